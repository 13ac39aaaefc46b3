// The one way the UI talks to the server: the documented `/v1` API through a client typed
// from its OpenAPI document. The browser's session is the `sb_session` cookie (HttpOnly, set
// by sign-in); every write also sends the session's CSRF token, kept in localStorage and
// renewed from `/v1/auth/me` at every start.

import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema';
import type { ErrorAnswer } from './types';

const CSRF_KEY = 'sb.csrf';

export function csrfToken(): string | null {
  return window.localStorage.getItem(CSRF_KEY);
}

export function keepCsrf(token: string | null): void {
  if (token === null) window.localStorage.removeItem(CSRF_KEY);
  else window.localStorage.setItem(CSRF_KEY, token);
}

/** Called when the server answers 401: the session ended. */
let onUnauthorized: () => void = () => {};
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

const session: Middleware = {
  onRequest({ request }) {
    const safe = request.method === 'GET' || request.method === 'HEAD';
    const token = csrfToken();
    if (!safe && token && !request.headers.has('authorization')) {
      request.headers.set('x-csrf-token', token);
    }
    return request;
  },
  onResponse({ request, response }) {
    const signingIn = new URL(request.url).pathname === '/v1/auth/login';
    if (response.status === 401 && !signingIn && !request.headers.has('authorization')) {
      onUnauthorized();
    }
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: window.location.origin, credentials: 'same-origin' });
api.use(session);

/** An error to show: the API's own (with the field it names) or the network's. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field: string | null,
  ) {
    super(message);
  }
}

/** The data of an answer, or an [`ApiFailure`] thrown with the API's error shape. */
export async function ok<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let answer: { data?: T; error?: unknown; response: Response };
  try {
    answer = await call;
  } catch {
    throw new ApiFailure(0, 'network', 'network', null);
  }
  if (answer.response.ok && answer.data !== undefined) return answer.data;
  if (answer.response.ok) return undefined as T;
  const body = answer.error as Partial<ErrorAnswer> | undefined;
  const error = body?.error;
  throw new ApiFailure(
    answer.response.status,
    error?.code ?? 'http',
    error?.message ?? answer.response.statusText,
    error?.field ?? null,
  );
}
