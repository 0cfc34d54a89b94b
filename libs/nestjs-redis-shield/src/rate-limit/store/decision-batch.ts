import { Cluster, ReplyError } from 'ioredis';
import { type Deadline, sharedDeadline } from '../../core/deadline.js';
import type { EncodedScriptRunner, RedisConnection } from '../../redis/store/redis.connection.js';
import { RedisCommandError } from '../../redis/engine/redis.errors.js';
import type { EncodedArgs, ScriptArg } from '../../redis/store/script-command.js';
import { clockArg } from '../../redis/store/lua/prelude.lua.js';

/** The most decisions one script call carries: bounds how long Redis runs one call (about 1 ms). */
export const MAX_BATCH = 64;

/** One request's part of a batch. */
interface PendingDecision {
  keys: readonly string[];
  /** `c` or `p`, with the lease token after it if the request takes slots. */
  mode: string;
  /** Each policy's definition (flags, tiers), the same object for every request of a policy. */
  definitions: readonly EncodedArgs[];
  costs: readonly number[];
  deadline: Deadline | undefined;
  resolve: (reply: string) => void;
  reject: (error: unknown) => void;
}

/**
 * The rate-limit decisions asked for in one event-loop turn, sent together as one call of
 * the script at the end of the turn (`setImmediate`): under load a process takes many
 * requests from its sockets in one turn, and one call for all of them saves Redis its
 * per-call work (the command, the script's set-up, the reply) and the app a command, a
 * timer and a promise per request. A request alone in its turn waits for nothing: its turn
 * ends at once. The script decides the requests one after the other, each atomically and
 * seeing the writes of those before it, so counts are exactly what separate calls would
 * give; each request still takes one round trip. On a Cluster each request is its own call
 * (different clients' keys live in different slots).
 *
 * A request whose deadline is more than half spent goes alone, so it never shortens the
 * others' budget; the call's budget is the least left among its requests.
 */
export class DecisionBatch {
  private pending: PendingDecision[] = [];
  private readonly alone: boolean;

  constructor(
    private readonly connection: RedisConnection,
    private readonly script: EncodedScriptRunner<string[]>,
  ) {
    this.alone = connection.client instanceof Cluster;
  }

  /**
   * Queues one request's decision: its keys (per policy its hash, then its slot ZSET if
   * it has a concurrency tier), mode, each policy's definition and cost. Resolves with its
   * reply (its integers as text).
   */
  decide(
    keys: readonly string[],
    mode: string,
    definitions: readonly EncodedArgs[],
    costs: readonly number[],
    deadline: Deadline | undefined,
  ): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const decision = { keys, mode, definitions, costs, deadline, resolve, reject };
      if (this.alone || (deadline && deadline.remainingMs() < this.connection.commandTimeoutMs / 2)) {
        this.send([decision], false);
        return;
      }
      this.pending.push(decision);
      if (this.pending.length === 1) setImmediate(this.flush);
      // A full batch in the middle of a turn goes with the turn's other commands; a new one starts.
      else if (this.pending.length >= MAX_BATCH) this.sendPending(false);
    });
  }

  /** At the end of the turn: the turn's commands are written already, so this one goes at once. */
  private readonly flush = (): void => this.sendPending(true);

  private sendPending(immediate: boolean): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.send(batch, immediate);
  }

  /** The script's layout (rate-limit.lua.ts): clock, each policy definition once, then each request. */
  private send(batch: readonly PendingDecision[], immediate: boolean): void {
    const keys: string[] = [];
    const args: ScriptArg[] = [clockArg(this.connection.clock), 0];
    const indexes = new Map<EncodedArgs, number>();
    const requests: ScriptArg[] = [];
    const deadlines: Deadline[] = [];
    for (const decision of batch) {
      for (const key of decision.keys) keys.push(key);
      requests.push(decision.mode, decision.definitions.length, decision.keys.length);
      decision.definitions.forEach((definition, p) => {
        let index = indexes.get(definition);
        if (index === undefined) {
          index = indexes.size + 1;
          indexes.set(definition, index);
          args.push(definition);
        }
        requests.push(index, decision.costs[p]);
      });
      if (decision.deadline) deadlines.push(decision.deadline);
    }
    args[1] = indexes.size;
    for (const arg of requests) args.push(arg);
    const deadline =
      deadlines.length === 0 ? undefined : deadlines.length === 1 ? deadlines[0] : sharedDeadline(deadlines);
    this.script(keys, args, { deadline, immediate }).then(
      (replies) => {
        batch.forEach((decision, index) => {
          const reply = replies[index] as string | undefined;
          if (reply !== undefined && reply.charCodeAt(0) !== 69 /* E */) decision.resolve(reply);
          else decision.reject(this.failure(reply === undefined ? 'no reply for this decision' : reply.slice(1)));
        });
      },
      (error: unknown) => {
        for (const decision of batch) decision.reject(error);
      },
    );
  }

  /** The error of one request's decision the script reported (the others of its batch were decided). */
  private failure(message: string): RedisCommandError {
    return new RedisCommandError(this.connection.name, { cause: new ReplyError(message) });
  }
}
