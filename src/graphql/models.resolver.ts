import type { ExecutionContext } from '@nestjs/common';
import { Args, Mutation, Query, Resolver } from '@nestjs/graphql';
import { RateLimit, RateLimitCost } from 'nestjs-redis-shield';
import { randomUUID } from 'node:crypto';
import { completionUnits } from '../rate-limit.config.js';
import { ModelsService } from '../models/models.service.js';
import { CompletionArgs, CompletionType, ModelType } from './graphql.types.js';

const DEFAULT_MAX_TOKENS = 256;

/**
 * What `POST /completions` costs (see `completionUnits`), read from the operation's
 * arguments (`context.getArgs()[1]`) before validation.
 */
export function graphqlCompletionCost(context: ExecutionContext): number {
  return completionUnits(context.getArgs<[unknown, { maxTokens?: unknown } | undefined]>()[1]?.maxTokens);
}

/**
 * The demo's GraphQL endpoint (`/graphql`): the catalogue under the default policy (one
 * count per operation, like one REST request), and a completion limited as over REST.
 */
@Resolver(() => ModelType)
export class ModelsResolver {
  constructor(private readonly catalogue: ModelsService) {}

  @Query(() => [ModelType])
  models(): ModelType[] {
    return this.catalogue.list().map((model) => ({
      id: model.id,
      name: model.name,
      provider: model.provider,
      contextWindow: model.context_window,
    }));
  }

  @Mutation(() => CompletionType)
  @RateLimit(['default', 'completions'])
  @RateLimitCost(graphqlCompletionCost, { policies: ['completions'] })
  completion(@Args() args: CompletionArgs): CompletionType {
    const maxTokens = args.maxTokens ?? DEFAULT_MAX_TOKENS;
    const words = args.prompt.trim().split(/\s+/);
    return {
      id: `cmpl-${randomUUID()}`,
      text: `Echo: ${words.slice(0, Math.min(words.length, maxTokens)).join(' ')}`,
      maxTokens,
    };
  }
}
