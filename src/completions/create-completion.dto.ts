import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min, MinLength } from 'class-validator';

/** Body of `POST /completions`. */
export class CreateCompletionDto {
  @ApiProperty({ minLength: 1, maxLength: 8000, example: 'Say hello' })
  @IsString()
  @MinLength(1)
  @MaxLength(8000)
  prompt: string;

  /** Upper bound of generated tokens; each started 1 000 costs one more rate-limit unit. */
  @ApiPropertyOptional({ minimum: 1, maximum: 32_000, example: 1500 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(32_000)
  max_tokens?: number;
}
