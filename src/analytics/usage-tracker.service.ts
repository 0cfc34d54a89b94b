import { Injectable } from '@nestjs/common';

/** A user's usage as counted by this instance. */
export interface UsageTotals {
  completions: number;
  tokens_requested: number;
}

/**
 * Counts completions per user in process memory: demo data for the per-user analytics
 * route, per instance and lost on restart (a real API would read its billing store).
 */
@Injectable()
export class UsageTracker {
  private readonly totals = new Map<string, UsageTotals>();

  record(userId: string, tokens: number): void {
    const current = this.totals.get(userId) ?? { completions: 0, tokens_requested: 0 };
    this.totals.set(userId, {
      completions: current.completions + 1,
      tokens_requested: current.tokens_requested + tokens,
    });
  }

  of(userId: string): UsageTotals {
    return this.totals.get(userId) ?? { completions: 0, tokens_requested: 0 };
  }
}
