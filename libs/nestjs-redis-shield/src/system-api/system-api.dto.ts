import { IsNotEmpty, IsString, MaxLength } from 'class-validator';

/** `DELETE /cache/endpoint?endpoint_pattern=`: a route-template pattern. */
export class EndpointPatternQuery {
  @IsString()
  @IsNotEmpty()
  @MaxLength(256)
  endpoint_pattern: string;
}

/** `POST /cache/invalidate?pattern=`: a concrete-path pattern. */
export class PathPatternQuery {
  @IsString()
  @IsNotEmpty()
  @MaxLength(256)
  pattern: string;
}
