import { connectEvents, getJson, type ProfileInfo, type UiEvent } from './api.js';
import { el } from './dom.js';
import type { Context, Screen } from './screen.js';
import { chatScreen } from './screens/chat.js';
import { chatListScreen, joinScreen } from './screens/chats.js';
import { connectivityScreen } from './screens/connectivity.js';
import { filesScreen } from './screens/files.js';
import { caCodeScreen, firstRunScreen, unlockScreen } from './screens/profile.js';
import { settingsScreen } from './screens/settings.js';

const view = document.getElementById('view')!;
let current: Screen | null = null;
let profile: ProfileInfo = { available: false, status: { state: 'none' }, chat: false, fileShare: false };
/** Renders are numbered so a slow one that finishes late does not replace a newer one. */
let generation = 0;
/**
 * Events that arrive while a screen is being built (it reads its state over
 * fetch, which takes a while) are kept and handed to it once it is shown:
 * otherwise a mesh or member change in that window is lost and the screen shows
 * stale state until the next change. Screens treat events as idempotent updates.
 */
const MAX_HELD_EVENTS = 500;
let held: UiEvent[] | null = null;

const context: Context = {
  get profile() {
    return profile;
  },
  navigate(hash) {
    if (location.hash === hash) void route();
    else location.hash = hash;
  },
  async reload() {
    await route();
  },
};

function errorScreen(err: unknown): Screen {
  return { title: 'Error', nodes: [el('h1', {}, 'Something went wrong'), el('p', { class: 'muted' }, String((err as Error)?.message ?? err))] };
}

/** Chats, joining and files need an unlocked profile; settings and connectivity never do. */
async function screenFor(hash: string): Promise<{ screen: Screen; nav: string }> {
  const [name = 'chats', arg] = hash.replace(/^#\/?/, '').split('/');
  if (name === 'connectivity') return { screen: await connectivityScreen(), nav: 'connectivity' };
  if (name === 'settings') return { screen: await settingsScreen(context), nav: 'settings' };
  if (!profile.available) {
    return {
      screen: { title: 'Chats', nodes: [el('h1', {}, 'Chats'), el('p', { class: 'muted' }, 'This node runs without a profile (for example a relay-only node): it has no chats.')] },
      nav: 'chats',
    };
  }
  if (profile.status.state === 'none') return { screen: firstRunScreen(context), nav: 'chats' };
  if (profile.registration && profile.status.state === 'unlocked') return { screen: caCodeScreen(context, profile.registration), nav: 'chats' };
  if (profile.status.state === 'locked' || !profile.chat) return { screen: unlockScreen(context), nav: 'chats' };
  if (name === 'chat' && arg && /^\d+$/.test(arg)) return { screen: await chatScreen(context, Number(arg)), nav: 'chats' };
  if (name === 'join') return { screen: joinScreen(context), nav: 'chats' };
  if (name === 'files' && profile.fileShare) return { screen: await filesScreen(), nav: 'files' };
  return { screen: await chatListScreen(context), nav: 'chats' };
}

async function route(): Promise<void> {
  const mine = ++generation;
  // A render that replaces one in progress keeps what that one held: those events may matter to it too.
  held ??= [];
  let result: { screen: Screen; nav: string };
  try {
    profile = await getJson<ProfileInfo>('/api/profile');
    result = await screenFor(location.hash);
  } catch (err) {
    result = { screen: errorScreen(err), nav: '' };
  }
  if (mine !== generation) {
    result.screen.dispose?.();
    return;
  }
  current?.dispose?.();
  current = result.screen;
  document.title = `${result.screen.title} · bitchat`;
  for (const link of document.querySelectorAll<HTMLAnchorElement>('#nav a')) {
    link.classList.toggle('active', link.dataset.view === result.nav);
    if (link.dataset.view === 'files') link.hidden = !profile.fileShare;
  }
  const who = document.getElementById('who')!;
  who.textContent = profile.status.state === 'unlocked' ? (profile.status.email ?? '') : '';
  view.replaceChildren(...result.screen.nodes);
  view.dataset.screen = result.screen.title;
  const missed = held ?? [];
  held = null;
  for (const event of missed) result.screen.onEvent?.(event);
}

function onEvent(event: UiEvent): void {
  // The profile was created, unlocked or locked elsewhere: the screen set changes.
  if (event.type === 'identity') {
    const state = (event as { status: { state: string } }).status.state;
    if (state !== profile.status.state) void route();
    return;
  }
  // A registration with a CA moved on (code sent, failed, done): its screen is drawn from the new state.
  if (event.type === 'registration') {
    void route();
    return;
  }
  if (held && held.length < MAX_HELD_EVENTS) held.push(event);
  current?.onEvent?.(event);
}

window.addEventListener('hashchange', () => void route());
connectEvents(onEvent, (live) => {
  const badge = document.getElementById('live')!;
  badge.textContent = live ? 'live' : 'offline';
  badge.classList.toggle('on', live);
});
void route();
