import { ApiProperty } from '@nestjs/swagger';
import { IsNotEmpty, IsString, MaxLength } from 'class-validator';

/** `DELETE /cache/endpoint?endpoint_pattern=`: a route-template pattern. */
export class EndpointPatternQuery {
  @ApiProperty({ maxLength: 256, example: '/api/v1/models/:id' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(256)
  endpoint_pattern: string;
}

/** `POST /cache/invalidate?pattern=`: a concrete-path pattern. */
export class PathPatternQuery {
  @ApiProperty({ maxLength: 256, example: '/api/v1/models/gpt-4' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(256)
  pattern: string;
}
