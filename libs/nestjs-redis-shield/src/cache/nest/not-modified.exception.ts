import { HttpException, HttpStatus } from '@nestjs/common';

/**
 * `304 Not Modified` for an `If-None-Match` that matches the cached entry. Thrown so
 * Nest's exception layer sends the status on either adapter (a 304 carries no body);
 * the entry's headers were set before.
 */
export class NotModifiedException extends HttpException {
  constructor() {
    super('', HttpStatus.NOT_MODIFIED);
  }
}
