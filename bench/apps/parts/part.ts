import type { DynamicModule, INestApplication, Provider, Type } from '@nestjs/common';

/** What one library contributes to a bench app. */
export interface BenchPart {
  imports?: DynamicModule[];
  providers?: Provider[];
  /** The controller serving `GET /ping`, when this part decides it (the caches do). */
  controller?: Type;
  /** Called once the app is created: subscribe to health signals, return a reader of problems. */
  watch?(app: INestApplication): () => string[];
}
