// Quotas and budgets per identity: what it may run and spend (Admission), and what it has spent (Spend).
export { Admission, type OwnerCounts } from "./admission.js";
export { dayWindow, limitsOf, monthWindow, NO_LIMITS, type QuotaLimits, type QuotaOverrides } from "./limits.js";
export { costOf, Spend } from "./spend.js";
