import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min, MinLength } from 'class-validator';
import { MAX_COMPLETION_TOKENS } from '../rate-limit.config.js';

/** Body of `POST /completions`. */
export class CreateCompletionDto {
  @ApiProperty({ minLength: 1, maxLength: 8000, example: 'Say hello' })
  @IsString()
  @MinLength(1)
  @MaxLength(8000)
  prompt: string;

  /**
   * Upper bound of generated tokens; each started 1 000 costs one more unit of the
   * `completions` policy. Capped so that the cost never exceeds that policy's limit.
   */
  @ApiPropertyOptional({ minimum: 1, maximum: MAX_COMPLETION_TOKENS, example: 1500 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_COMPLETION_TOKENS)
  max_tokens?: number;
}
