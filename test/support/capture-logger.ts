import type { LoggerService } from '@nestjs/common';

/** One captured log call. */
export interface LogLine {
  level: 'log' | 'error' | 'warn' | 'debug' | 'verbose' | 'fatal';
  context: string | undefined;
  message: string;
}

/** A Nest logger that keeps every line in memory, for assertions on what was logged. */
export class CaptureLogger implements LoggerService {
  readonly lines: LogLine[] = [];

  log(message: unknown, ...rest: unknown[]): void {
    this.push('log', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.push('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.push('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.push('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.push('verbose', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.push('fatal', message, rest);
  }

  /** Lines logged under one context (e.g. `Usage`). */
  of(context: string): LogLine[] {
    return this.lines.filter((line) => line.context === context);
  }

  private push(level: LogLine['level'], message: unknown, rest: unknown[]): void {
    // Nest passes the context as the last optional argument.
    const context = typeof rest.at(-1) === 'string' ? (rest.at(-1) as string) : undefined;
    this.lines.push({ level, context, message: typeof message === 'string' ? message : JSON.stringify(message) });
  }
}
