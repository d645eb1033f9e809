// Problem errors in words a person can act on. Telegram's own name stays visible in small
// print (operators search for it), and the API's detail is the fallback for anything unknown.

import { ApiError } from "./api";

const TELEGRAM: Record<string, string> = {
  PHONE_CODE_INVALID: "That code is wrong. Check the code Telegram sent and type it again.",
  PHONE_CODE_EXPIRED: "That code has expired. Start again to get a new code.",
  PHONE_CODE_EMPTY: "Enter the code Telegram sent.",
  PHONE_NUMBER_INVALID:
    "Telegram does not know this phone number. Write it in international form, e.g. +15550000001.",
  PHONE_NUMBER_BANNED: "Telegram has banned this phone number; it cannot sign in.",
  PHONE_NUMBER_FLOOD: "Too many codes were asked for this number. Try again later.",
  PHONE_NUMBER_UNOCCUPIED: "No Telegram account uses this phone number yet.",
  PASSWORD_HASH_INVALID: "That two-step password is wrong. Try again (mind the hint).",
  PASSWORD_EMPTY: "Enter the account's two-step password.",
  SESSION_PASSWORD_NEEDED: "This account has two-step verification: enter its password.",
  SRP_ID_INVALID: "The two-step check timed out. Start the login again.",
  AUTH_RESTART: "Telegram asks to restart the login. Start again.",
  FLOOD_WAIT: "Telegram asks this account to wait before trying again.",
  SLOWMODE_WAIT: "This chat is in slow mode; wait before sending again.",
  ACCESS_TOKEN_INVALID: "That bot token is not valid. Copy it again from @BotFather.",
  ACCESS_TOKEN_EXPIRED: "That bot token was revoked. Get a new one from @BotFather.",
  USERNAME_INVALID: "That username is not valid.",
  USERNAME_NOT_OCCUPIED: "No one on Telegram has that username.",
  PEER_ID_INVALID: "This account does not know that chat. Use a username or phone it can see.",
  CHAT_WRITE_FORBIDDEN: "This account may not write in that chat.",
  USER_IS_BLOCKED: "That user has blocked this account.",
  INPUT_USER_DEACTIVATED: "That user's account is deleted.",
  MESSAGE_EMPTY: "Write a message first.",
  MESSAGE_TOO_LONG: "That message is too long (4096 characters at most).",
  AUTH_KEY_UNREGISTERED: "This authorization was logged out. Log the account in again.",
  AUTH_KEY_DUPLICATED: "Telegram saw this authorization used twice at once and revoked it.",
  SESSION_REVOKED: "This session was ended from another device. Log the account in again.",
  SESSION_EXPIRED: "This session has expired. Log the account in again.",
  USER_DEACTIVATED: "Telegram has deleted this account.",
  USER_DEACTIVATED_BAN: "Telegram has banned this account.",
  AUTH_TOKEN_EXPIRED: "The QR login token expired. Try the handoff again.",
};

const PROBLEM: Record<string, string> = {
  "not-authenticated": "Your session has ended. Sign in again.",
  "too-many-attempts": "Too many sign-in attempts. Wait a little and try again.",
  "account-exists": "This account is already in the fleet.",
  "account-not-found": "This account is not in the fleet (was it removed?).",
  "pool-timeout": "Every connection of this account is busy. Try again in a moment.",
  "pool-closed": "The daemon is shutting down.",
  "connect-failed": "The daemon cannot reach Telegram right now.",
  "proxy-error": "The account's proxy failed. Test the proxy in the account's settings.",
  "account-disabled": "This account is disabled. Enable it in its settings to act through it.",
  "no-authorization": "No authorization of this account is free to use.",
};

export interface Explained {
  /** The sentence to show. */
  text: string;
  /** The machine name (Telegram's error or the problem type) for the small print. */
  code: string;
}

export function explain(error: unknown): Explained {
  if (error instanceof ApiError) {
    const tg = error.telegramError;
    if (tg) {
      const base = tg.replace(/_\d+$/, "").replace(/_X$/, "");
      let text = TELEGRAM[tg] ?? TELEGRAM[base] ?? error.detail;
      if (base === "FLOOD_WAIT" && error.retryAfter) {
        text = `Telegram asks this account to wait ${duration(error.retryAfter)} before trying again.`;
      }
      return { text, code: tg };
    }
    if (error.slug === "flood-wait") {
      const wait = error.retryAfter ? duration(error.retryAfter) : "a while";
      return { text: `Telegram asks this account to wait ${wait} before trying again.`, code: "FLOOD_WAIT" };
    }
    const known = PROBLEM[error.slug];
    if (known) return { text: known, code: error.detail };
    // a 422 detail already names the field and the form it wants: no code to add
    const code = error.status && error.status !== 422 ? `HTTP ${error.status}` : "";
    return { text: error.detail || error.title, code };
  }
  if (error instanceof Error) return { text: error.message, code: "" };
  return { text: String(error), code: "" };
}

/** The sentence plus Telegram's name in smaller text, for an alert element. */
export function showError(target: HTMLElement, error: unknown): void {
  const { text, code } = explain(error);
  target.replaceChildren(document.createTextNode(text));
  if (code && code !== text) {
    const small = document.createElement("small");
    small.className = "code";
    small.textContent = ` (${code})`;
    target.appendChild(small);
  }
  target.hidden = false;
}

export function clearError(target: HTMLElement): void {
  target.replaceChildren();
  target.hidden = true;
}

export function duration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
