import { BadRequestException, ValidationPipe } from '@nestjs/common';
import { messages, withCode } from '../../core/errors.js';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  Max,
  Min,
  registerDecorator,
  type ValidationOptions,
} from 'class-validator';

/** Unix milliseconds (digits only), or an ISO-8601 date or date-time. */
const UNIX_MS = /^\d{1,15}$/;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * A point in time given as Unix ms or ISO-8601, as ms since the epoch; NaN when it is
 * neither, or names a day that does not exist (`2026-02-30`). A time without a zone is UTC.
 */
export function parseSince(value: string): number {
  if (UNIX_MS.test(value)) return Number(value);
  const match = ISO_8601.exec(value);
  if (!match) return Number.NaN;
  const [year, month, day] = value.slice(0, 10).split('-').map(Number);
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    return Number.NaN;
  }
  // Date.parse reads a date-time without a zone as local time: make it UTC, as a date alone is.
  return Date.parse(value.length > 10 && !match[4] ? `${value}Z` : value);
}

function IsUnixMsOrIso(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isUnixMsOrIso',
      target: target.constructor,
      propertyName: String(propertyName),
      options: { message: `${String(propertyName)} must be Unix milliseconds or an ISO-8601 time`, ...options },
      validator: { validate: (value: unknown) => typeof value === 'string' && Number.isFinite(parseSince(value)) },
    });
}

/**
 * `DELETE /cache/endpoint?endpoint_pattern=`: a route-template pattern. Its length and
 * `*` count follow the cache module's `maxPatternLength` / `maxPatternStars`, so there is
 * no static `@MaxLength`: the controller checks them (and the OpenAPI text says so).
 */
export class EndpointPatternQuery {
  @ApiProperty({ example: '/api/v1/models/:id' })
  @IsString()
  @IsNotEmpty()
  endpoint_pattern: string;
}

/** `POST /cache/invalidate?pattern=`: a concrete-path pattern, bounded as `EndpointPatternQuery`'s. */
export class PathPatternQuery {
  @ApiProperty({ example: '/api/v1/models/gpt-4' })
  @IsString()
  @IsNotEmpty()
  pattern: string;
}

/** `GET /rate-limit/violations?since=&limit=`. */
export class ViolationsQuery {
  /** Only violations at or after this time: Unix milliseconds or ISO-8601 (UTC without a zone). */
  @ApiPropertyOptional({
    description: 'Only violations at or after this time: Unix milliseconds or ISO-8601',
    example: '2026-11-27T12:00:00Z',
  })
  @IsOptional()
  @IsUnixMsOrIso()
  since?: string;

  /** Most violations returned, 1–1000. Default 100. */
  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100, description: 'Most violations returned' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;
}

/** Validation of the system API's inputs: 400 naming the parameter. */
export const systemValidation = new ValidationPipe({ whitelist: true, forbidNonWhitelisted: false, transform: true });

/** A user id of 1-256 Unicode code points (after URL decoding), or 400 naming `user_id`. */
export function checkUserId(userId: string): string {
  const length = [...userId].length;
  if (length < 1 || length > 256) throw withCode(new BadRequestException(messages.invalidUserId()), 'invalidUserId');
  return userId;
}
