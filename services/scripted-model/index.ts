// Public surface of the scripted model server: start one, script it, read what
// claude sent. Turn selection and classification are exported so callers can
// interpret recorded requests the same way the server did.

export { startScriptedModel } from "./server.js";
export type { RecordedRequest, ScriptedModel, ScriptedModelOptions } from "./server.js";
export { DEFAULT_SCRIPT, END_OF_SCRIPT_TEXT, NO_MATCH_TEXT, parseScript, selectTurn } from "./script.js";
export type { Block, Conversation, Script, Turn, TurnError, Usage } from "./script.js";
export { classify, turnContext } from "./request.js";
export type { MessagesRequest, RequestKind } from "./request.js";
