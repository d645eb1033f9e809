// The one way the panel talks to the daemon: same-origin fetch with the session cookie, the
// CSRF header on unsafe methods, and RFC 9457 problem bodies turned into ApiError.

const CSRF_COOKIE = "tgfleet_csrf";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly slug: string;
  readonly telegramError: string;
  readonly retryAfter: number;
  readonly fields: { field: string; message: string }[];

  constructor(status: number, body: Record<string, unknown>, retryAfterHeader: string | null) {
    const detail = typeof body.detail === "string" ? body.detail : "";
    const title = typeof body.title === "string" ? body.title : `HTTP ${status}`;
    super(detail || title);
    this.name = "ApiError";
    this.status = status;
    this.title = title;
    this.detail = detail;
    const type = typeof body.type === "string" ? body.type : "";
    this.slug = type.split("/").pop() ?? "";
    this.telegramError = typeof body.telegram_error === "string" ? body.telegram_error : "";
    const retry = typeof body.retry_after === "number" ? body.retry_after : Number(retryAfterHeader ?? 0);
    this.retryAfter = Number.isFinite(retry) ? retry : 0;
    this.fields = Array.isArray(body.errors) ? (body.errors as { field: string; message: string }[]) : [];
  }
}

/** Called when any request answers 401: the session ended, so the panel shows sign-in. */
let onSignedOut: () => void = () => {};
export function whenSignedOut(callback: () => void): void {
  onSignedOut = callback;
}

let csrfFromSignIn = "";
export function rememberCsrf(token: string): void {
  csrfFromSignIn = token;
}

function csrfToken(): string {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === CSRF_COOKIE) return decodeURIComponent(rest.join("="));
  }
  return csrfFromSignIn;
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (UNSAFE.has(method)) headers["X-CSRF-Token"] = csrfToken();
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, { title: "Daemon unreachable", detail: "The daemon does not answer. Is it running?" }, null);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { detail: text.slice(0, 200) };
  }
  if (!response.ok) {
    const problem = (parsed && typeof parsed === "object" ? parsed : {}) as Record<string, unknown>;
    const error = new ApiError(response.status, problem, response.headers.get("Retry-After"));
    if (response.status === 401 && !path.endsWith("/auth/login")) onSignedOut();
    throw error;
  }
  return parsed as T;
}

export const api = {
  get: <T>(path: string) => request<T>("GET", path),
  post: <T>(path: string, body?: unknown) => request<T>("POST", path, body ?? {}),
  patch: <T>(path: string, body: unknown) => request<T>("PATCH", path, body),
  del: <T>(path: string) => request<T>("DELETE", path),
};

export const enc = encodeURIComponent;
