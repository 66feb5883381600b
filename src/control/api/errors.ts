/**
 * Typed API errors and the one table that maps every error the control plane can raise to an
 * HTTP status. The body is a Kubernetes-like `Status` object whose `reason` is the error's
 * `name`, so the client can rebuild the same typed error on its side.
 */
import { ApplyConflictError } from '../manifest/apply.js';
import { ManifestError, type ManifestIssue } from '../manifest/load.js';
import { MigrationRefusedError } from '../server-ops.js';
import { UserConflictError } from '../users.js';
import { CasFailedError, CompactedError, FutureRevisionError, InvalidTxnError, LeaseNotFoundError, NotFoundError } from '../store/contract.js';

/** Base of the errors raised by the API layer itself. */
export class ApiError extends Error {
  override readonly name: string = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** No token, or a token the server does not know (401). */
export class UnauthorizedError extends ApiError {
  override readonly name = 'UnauthorizedError';
  constructor(message = 'a valid bearer token is required (Authorization: Bearer TOKEN)') {
    super(401, message);
  }
}

/** A known principal asked for something outside its rights (403). */
export class ForbiddenError extends ApiError {
  override readonly name = 'ForbiddenError';
  constructor(message: string) {
    super(403, message);
  }
}

/** Malformed request: bad JSON/YAML body, path and body disagree, bad query (400). */
export class BadRequestError extends ApiError {
  override readonly name = 'BadRequestError';
  constructor(message: string) {
    super(400, message);
  }
}

/** No route for this path (404) or no such method on it (405). */
export class RouteNotFoundError extends ApiError {
  override readonly name = 'RouteNotFoundError';
  constructor(method: string, path: string, allowed?: readonly string[]) {
    super(allowed ? 405 : 404, allowed ? `${method} is not allowed on ${path} (allowed: ${allowed.join(', ')})` : `no route for ${method} ${path}`);
  }
}

/** Request body over the server's limit (413). */
export class PayloadTooLargeError extends ApiError {
  override readonly name = 'PayloadTooLargeError';
  constructor(limit: number) {
    super(413, `request body larger than ${limit} bytes`);
  }
}

/** The wire form of an error. */
export interface StatusBody {
  readonly kind: 'Status';
  readonly status: 'Failure';
  readonly code: number;
  /** The typed error's `name`, e.g. `ManifestError`, `ForbiddenError`. */
  readonly reason: string;
  readonly message: string;
  /** Every manifest problem at file:line:column (ManifestError). */
  readonly issues?: readonly ManifestIssue[];
  /** Oldest revision still available (CompactedError). */
  readonly oldest?: number;
  readonly key?: string;
}

/**
 * The status of an error: the single place where typed errors meet HTTP.
 *
 * @example
 * httpStatusOf(new CompactedError(3, 9)).code === 410
 */
export function httpStatusOf(e: unknown): StatusBody {
  const base = (code: number, err: Error): StatusBody => ({ kind: 'Status', status: 'Failure', code, reason: err.name, message: err.message });
  if (e instanceof ApiError) return base(e.status, e);
  if (e instanceof ManifestError) return { ...base(422, e), issues: e.issues };
  if (e instanceof NotFoundError) return { ...base(404, e), key: e.key };
  if (e instanceof CasFailedError) return { ...base(409, e), key: e.key };
  if (e instanceof ApplyConflictError || e instanceof MigrationRefusedError || e instanceof UserConflictError) return base(409, e);
  if (e instanceof CompactedError) return { ...base(410, e), oldest: e.oldest };
  if (e instanceof FutureRevisionError || e instanceof InvalidTxnError) return base(400, e);
  if (e instanceof LeaseNotFoundError) return base(404, e);
  const err = e instanceof Error ? e : new Error(String(e));
  return { kind: 'Status', status: 'Failure', code: 500, reason: 'InternalError', message: err.message };
}

/** WebSocket close code for a watch whose revision was compacted (4000 + HTTP 410). */
export const WS_CLOSE_COMPACTED = 4410;
/** WebSocket close code for a watch that fell too far behind (4000 + HTTP 429). */
export const WS_CLOSE_TOO_SLOW = 4429;
