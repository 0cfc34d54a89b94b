import { ArgsType, Field, Int, ObjectType } from '@nestjs/graphql';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min, MinLength } from 'class-validator';
import { MAX_COMPLETION_TOKENS } from '../rate-limit.config.js';

/** A model of the catalogue, as GraphQL shows it. */
@ObjectType('Model')
export class ModelType {
  @Field(() => String)
  id!: string;

  @Field(() => String)
  name!: string;

  @Field(() => String)
  provider!: string;

  @Field(() => Int)
  contextWindow!: number;
}

/** What the `completion` mutation answers. */
@ObjectType('Completion')
export class CompletionType {
  @Field(() => String)
  id!: string;

  @Field(() => String)
  text!: string;

  @Field(() => Int)
  maxTokens!: number;
}

/** The arguments of `completion`, validated as the REST body is. */
@ArgsType()
export class CompletionArgs {
  @Field(() => String)
  @IsString()
  @MinLength(1)
  @MaxLength(8000)
  prompt!: string;

  /** Each started 1 000 costs one more unit of the `completions` policy, as over REST. */
  @Field(() => Int, { nullable: true })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_COMPLETION_TOKENS)
  maxTokens?: number;
}
