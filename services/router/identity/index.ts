// Identities, roles and scoping: who calls the router (CC_TOKENS_FILE, CC_TOKEN) and what each caller may see.
export { CALLER, callerOf, identityAuth, identityGate, visibleTo } from "./caller.js";
export { CC_TOKEN_NAME, Identities, type Identity, OPEN_ADMIN } from "./identities.js";
export { parseTokensFile, type Role, TokensFileError } from "./tokens-file.js";
