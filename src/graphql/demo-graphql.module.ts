import type { DynamicModule } from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import type { HttpAdapterName } from '../app.factory.js';

/** Where the GraphQL endpoint answers: outside the `api/v1` prefix, where GraphQL clients look. */
export const GRAPHQL_PATH = '/graphql';

/**
 * The demo's GraphQL endpoint, code-first with the schema kept in memory (no file written):
 * Apollo on Express, Mercurius on Fastify (each driver runs on its own platform only). Both
 * take batched operations; the rate-limit guard counts each of them. The resolvers are the
 * application module's providers (`ModelsResolver`).
 */
export function demoGraphqlModule(adapter: HttpAdapterName): DynamicModule {
  return adapter === 'fastify'
    ? GraphQLModule.forRoot<MercuriusDriverConfig>({
        driver: MercuriusDriver,
        path: GRAPHQL_PATH,
        autoSchemaFile: true,
        allowBatchedQueries: true,
      })
    : GraphQLModule.forRoot<ApolloDriverConfig>({
        driver: ApolloDriver,
        path: GRAPHQL_PATH,
        autoSchemaFile: true,
        allowBatchedHttpRequests: true,
      });
}
