// The router token for this tab. It lives in sessionStorage: it survives a reload but not the tab, is never shared
// with other tabs or sites, and never goes into a URL (the login form is handled by script, never submitted).
const KEY = "claudecluster.token";

/** Where storage is refused (some private modes), the token lasts until the page is left. */
let fallback = "";

export const session = {
  get token(): string {
    try {
      return sessionStorage.getItem(KEY) ?? "";
    } catch {
      return fallback;
    }
  },
  set token(value: string) {
    fallback = value;
    try {
      if (value) sessionStorage.setItem(KEY, value);
      else sessionStorage.removeItem(KEY);
    } catch {
      // Kept in `fallback`.
    }
  },
};
