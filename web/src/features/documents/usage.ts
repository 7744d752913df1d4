/**
 * The caller's storage usage (`GET /v1/account/usage`), shared by every screen
 * that shows or checks it: one copy, refreshed after each change of documents.
 */
import { useEffect, useSyncExternalStore } from "react";
import { api, call, type Schemas } from "../../api/client";
import { describeProblem } from "../problems";

/** Documents and bytes stored, with the quota and the largest document allowed. */
export type Usage = Schemas["UsageBody"];

/** What is known of the usage: the last answer, or why there is none. */
export interface UsageState {
  usage?: Usage;
  error?: string;
}

let state: UsageState = {};
const listeners = new Set<() => void>();

function publish(next: UsageState) {
  state = next;
  listeners.forEach((listener) => listener());
}

/**
 * Asks for the usage again. With `position` (a command reply's), the answer
 * includes that command. Resolves to the usage, or undefined when it failed.
 */
export async function refreshUsage(position?: string): Promise<Usage | undefined> {
  try {
    const usage = await call(() =>
      api.GET("/v1/account/usage", {
        headers: position ? { "Anote-Min-Position": position } : {},
      }),
    );
    publish({ usage });
    return usage;
  } catch (error) {
    publish({ ...state, error: describeProblem(error) });
    return undefined;
  }
}

/** The usage, asked for again whenever a component using it mounts. */
export function useUsage(): UsageState {
  useEffect(() => {
    void refreshUsage();
  }, []);
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => state,
  );
}
