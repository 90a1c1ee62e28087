// The scripted model for end-to-end tests, and the environment that points the real claude at it.
import { readFileSync } from "node:fs";
import { parseScript, startScriptedModel, type Script, type ScriptedModel } from "../../services/scripted-model/index.js";

export function fixtureScript(name: string): Script {
  return parseScript(JSON.parse(readFileSync(new URL(`../fixtures/scripts/${name}.json`, import.meta.url), "utf8")));
}

export function startModel(script: Script | string = "hello"): Promise<ScriptedModel> {
  return startScriptedModel({ script: typeof script === "string" ? fixtureScript(script) : script });
}

/** What claude needs to talk to the scripted model and nothing else. */
export function modelEnv(model: ScriptedModel): Record<string, string> {
  return {
    ANTHROPIC_BASE_URL: model.url,
    ANTHROPIC_API_KEY: "sk-ant-scripted-model-dummy-key-0000",
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  };
}
