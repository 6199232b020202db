import type { ProfileInfo, UiEvent } from './api.js';

/** What a rendered screen gives the router: its nodes, and optionally live-event handling and clean-up. */
export interface Screen {
  title: string;
  nodes: Node[];
  onEvent?(event: UiEvent): void;
  dispose?(): void;
}

export interface Context {
  readonly profile: ProfileInfo;
  navigate(hash: string): void;
  /** Re-reads the profile state and re-renders the current screen. */
  reload(): Promise<void>;
}
