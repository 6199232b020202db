import { postJson, type UiEvent } from '../api.js';
import { el, errorLine, field, input } from '../dom.js';
import type { Context, Screen } from '../screen.js';

const MIN_PASSWORD = 8;

/** First run: create a self-issued profile, with progress while the key is made. */
export function firstRunScreen(ctx: Context): Screen {
  const name = input({ name: 'name', required: '', maxlength: '255', autocomplete: 'name' });
  const email = input({ name: 'email', type: 'email', required: '', maxlength: '255', autocomplete: 'email' });
  const password = input({ name: 'password', type: 'password', required: '', minlength: String(MIN_PASSWORD), autocomplete: 'new-password' });
  const confirm = input({ name: 'confirm', type: 'password', required: '', minlength: String(MIN_PASSWORD), autocomplete: 'new-password' });
  const progress = el('progress', { max: '1', hidden: '' });
  const progressText = el('span', { class: 'muted', id: 'progress-text' });
  const error = errorLine();
  const submit = el('button', { type: 'submit', class: 'primary' }, 'Create profile');
  const form = el(
    'form',
    { class: 'panel narrow', id: 'first-run' },
    el('p', { class: 'muted' }, 'Your profile is your identity: a key pair and a self-issued certificate for your e-mail address. People you chat with compare its safety number once to be sure it is you.'),
    field('Your name', name),
    field('E-mail address', email),
    field('Password', password, `At least ${MIN_PASSWORD} characters. It encrypts the profile file; it cannot be recovered.`),
    field('Password again', confirm),
    el('div', { class: 'row' }, submit, progress, progressText),
    error,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    error.clear();
    if (password.value !== confirm.value) return error.set('The two passwords differ.');
    submit.disabled = true;
    progress.hidden = false;
    progress.removeAttribute('value');
    progressText.textContent = 'Making your key…';
    postJson('/api/profile', { name: name.value.trim(), email: email.value.trim(), password: password.value })
      .then(() => {
        password.value = confirm.value = '';
        return ctx.reload();
      })
      .catch((err: unknown) => {
        submit.disabled = false;
        progress.hidden = true;
        progressText.textContent = '';
        error.set(err);
      });
  });
  return {
    title: 'Create your profile',
    nodes: [el('h1', {}, 'Create your profile'), form],
    onEvent(event: UiEvent) {
      if (event.type !== 'profile-progress') return;
      const p = (event as { progress: { fraction?: number; done?: boolean; phase?: string; elapsedMs?: number } }).progress;
      if (typeof p.fraction === 'number') {
        progress.value = p.fraction;
        progressText.textContent = `Making your key… ${Math.round(p.fraction * 100)}%`;
      } else if (typeof p.phase === 'string') {
        // Key generation and the password KDF cannot say how far they are: show the time spent.
        const seconds = typeof p.elapsedMs === 'number' ? ` ${Math.floor(p.elapsedMs / 1000)} s` : '';
        progressText.textContent = p.phase === 'kdf' ? `Protecting it with your password…${seconds}` : `Making your key…${seconds}`;
      }
      if (p.done) progressText.textContent = 'Done.';
    },
  };
}

/** Unlock the profile with its password. */
export function unlockScreen(ctx: Context): Screen {
  const status = ctx.profile.status;
  const password = input({ name: 'password', type: 'password', required: '', autocomplete: 'current-password', autofocus: '' });
  const error = errorLine();
  const submit = el('button', { type: 'submit', class: 'primary' }, 'Unlock');
  const form = el(
    'form',
    { class: 'panel narrow', id: 'unlock' },
    el('p', {}, status.name ?? '', status.email ? el('span', { class: 'muted' }, ` <${status.email}>`) : null),
    field('Password', password),
    el('div', { class: 'row' }, submit),
    error,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    error.clear();
    submit.disabled = true;
    postJson('/api/profile/unlock', { password: password.value })
      .then(() => {
        password.value = '';
        return ctx.reload();
      })
      .catch((err: unknown) => {
        submit.disabled = false;
        error.set(err);
      });
  });
  return { title: 'Unlock', nodes: [el('h1', {}, 'Unlock your profile'), form] };
}
