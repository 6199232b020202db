import { deleteJson, postJson, type Registration, type UiEvent } from '../api.js';
import { el, errorLine, field, input } from '../dom.js';
import type { Context, Screen } from '../screen.js';

const MIN_PASSWORD = 8;
/** Profile files are a few KiB; the API takes JSON bodies up to 256 KiB. */
const MAX_PROFILE_FILE_BYTES = 128 * 1024;
const BASE64_SLICE = 0x8000;

/** Reads a picked file as base64, for a JSON body. */
async function base64Of(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  // In slices: one String.fromCharCode call per byte array overflows the stack on large files.
  for (let i = 0; i < bytes.length; i += BASE64_SLICE) binary += String.fromCharCode(...bytes.subarray(i, i + BASE64_SLICE));
  return btoa(binary);
}

/** A pair of buttons that shows one of two panels. */
function switcher(options: Array<{ id: string; label: string; panel: HTMLElement }>): HTMLElement {
  const buttons = options.map((option, i) => {
    const button = el('button', { type: 'button', id: option.id, role: 'tab', 'aria-selected': String(i === 0) }, option.label);
    option.panel.hidden = i !== 0;
    button.addEventListener('click', () => {
      for (const [j, other] of options.entries()) {
        other.panel.hidden = j !== i;
        buttons[j]!.setAttribute('aria-selected', String(j === i));
      }
    });
    return button;
  });
  return el('div', { class: 'switcher', role: 'tablist' }, ...buttons);
}

/** The new-profile form: self-issued, or issued by a certification authority (which mails a code). */
function newProfileForm(ctx: Context): { form: HTMLFormElement; onEvent(event: UiEvent): void } {
  const name = input({ name: 'name', required: '', maxlength: '255', autocomplete: 'name' });
  const email = input({ name: 'email', type: 'email', required: '', maxlength: '255', autocomplete: 'email' });
  const password = input({ name: 'password', type: 'password', required: '', minlength: String(MIN_PASSWORD), autocomplete: 'new-password' });
  const confirm = input({ name: 'confirm', type: 'password', required: '', minlength: String(MIN_PASSWORD), autocomplete: 'new-password' });
  const selfIssued = input({ type: 'radio', name: 'issuer', value: 'self', checked: '' });
  const caIssued = input({ type: 'radio', name: 'issuer', value: 'ca' });
  const caUrl = input({ name: 'ca-url', type: 'url', maxlength: '2000', placeholder: 'https://ca.example.org', autocomplete: 'url' });
  const caField = field('Certification authority address', caUrl, 'It mails a code to your address; you enter it on the next screen.');
  caField.hidden = true;
  const issuer = el(
    'fieldset',
    { class: 'issuer' },
    el('legend', {}, 'Certificate'),
    el('label', { class: 'inline' }, selfIssued, 'Self-issued: people you chat with compare its safety number once'),
    el('label', { class: 'inline' }, caIssued, 'Issued by a certification authority (your organisation runs one)'),
  );
  const showCa = (): void => {
    caField.hidden = !caIssued.checked;
    caUrl.required = caIssued.checked;
  };
  selfIssued.addEventListener('change', showCa);
  caIssued.addEventListener('change', showCa);
  const progress = el('progress', { max: '1', hidden: '' });
  const progressText = el('span', { class: 'muted', id: 'progress-text' });
  const error = errorLine();
  const submit = el('button', { type: 'submit', class: 'primary' }, 'Create profile');
  const form = el(
    'form',
    { class: 'panel narrow', id: 'first-run' },
    el('p', { class: 'muted' }, 'Your profile is your identity: a key pair and a certificate for your e-mail address.'),
    field('Your name', name),
    field('E-mail address', email),
    field('Password', password, `At least ${MIN_PASSWORD} characters. It encrypts the profile file; it cannot be recovered.`),
    field('Password again', confirm),
    issuer,
    caField,
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
    progressText.textContent = caIssued.checked ? 'Asking the authority…' : 'Making your key…';
    const body = { name: name.value.trim(), email: email.value.trim(), password: password.value };
    (caIssued.checked ? postJson('/api/profile/ca', { ...body, caUrl: caUrl.value.trim() }) : postJson('/api/profile', body))
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
    form,
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

/** Opens a profile file made elsewhere (another device, `bitchat profile create`). */
function openProfileForm(ctx: Context): HTMLFormElement {
  const file = input({ name: 'profile-file', type: 'file', required: '' });
  const password = input({ name: 'open-password', type: 'password', required: '', autocomplete: 'current-password' });
  const error = errorLine();
  const submit = el('button', { type: 'submit', class: 'primary' }, 'Open profile');
  const form = el(
    'form',
    { class: 'panel narrow', id: 'open-profile' },
    el('p', { class: 'muted' }, 'A profile file from another device or from ', el('code', {}, 'bitchat profile create'), '. It is copied into this node’s data folder.'),
    field('Profile file', file),
    field('Its password', password),
    el('div', { class: 'row' }, submit),
    error,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    error.clear();
    const picked = file.files?.[0];
    if (!picked) return error.set('Choose the profile file.');
    if (picked.size > MAX_PROFILE_FILE_BYTES) return error.set('That file is too large to be a profile.');
    submit.disabled = true;
    base64Of(picked)
      .then((content) => postJson('/api/profile/import', { file: content, password: password.value }))
      .then(() => {
        password.value = '';
        return ctx.reload();
      })
      .catch((err: unknown) => {
        submit.disabled = false;
        error.set(err);
      });
  });
  return form;
}

/** First run: a new profile (self-issued or CA-issued, with progress while the key is made) or an existing profile file. */
export function firstRunScreen(ctx: Context): Screen {
  const created = newProfileForm(ctx);
  const opened = openProfileForm(ctx);
  const tabs = switcher([
    { id: 'tab-new', label: 'New profile', panel: created.form },
    { id: 'tab-open', label: 'Open a profile file', panel: opened },
  ]);
  return {
    title: 'Create your profile',
    nodes: [el('h1', {}, 'Create your profile'), tabs, created.form, opened],
    onEvent: (event) => created.onEvent(event),
  };
}

/** Step two of a CA-issued profile: the code the authority mailed. */
export function caCodeScreen(ctx: Context, registration: Registration): Screen {
  const code = input({ name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{4,12}', maxlength: '12', required: '' });
  const error = errorLine();
  const submit = el('button', { type: 'submit', class: 'primary' }, 'Verify');
  const retry = el('button', { type: 'button', id: 'ca-retry' }, registration.state === 'failed' ? 'Try again' : 'Send a new code');
  const cancel = el('button', { type: 'button', class: 'link', id: 'ca-cancel' }, 'Keep the self-issued certificate');
  const waiting = registration.state === 'registering';
  code.disabled = submit.disabled = registration.state !== 'code-sent';
  retry.disabled = waiting;
  const state =
    registration.state === 'registering'
      ? el('p', { class: 'notice', id: 'ca-state' }, `Asking ${registration.caName} to mail a code to ${registration.email}…`)
      : registration.state === 'failed'
        ? el('p', { class: 'error', id: 'ca-state' }, `The authority could not be asked: ${registration.error ?? 'unknown error'}`)
        : el('p', { class: 'notice', id: 'ca-state' }, `${registration.caName} mailed a code to ${registration.email}. Enter it here.`);
  const form = el(
    'form',
    { class: 'panel narrow', id: 'ca-code' },
    state,
    field('Code from the mail', code),
    el('div', { class: 'row' }, submit, retry, cancel),
    error,
    el(
      'p',
      { class: 'muted small' },
      'Your key is saved already, with a self-issued certificate until the authority issues one. Authority key fingerprint (compare it with the one your organisation gives): ',
      el('span', { class: 'mono' }, registration.caFingerprint),
    ),
  );
  const act = (button: HTMLButtonElement, request: () => Promise<unknown>): void => {
    error.clear();
    button.disabled = true;
    request()
      .then(() => ctx.reload())
      .catch((err: unknown) => {
        button.disabled = false;
        error.set(err);
      });
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    act(submit, () => postJson('/api/profile/ca/verify', { code: code.value.trim() }));
  });
  retry.addEventListener('click', () => act(retry, () => postJson('/api/profile/ca/retry')));
  cancel.addEventListener('click', () => act(cancel, () => deleteJson('/api/profile/ca')));
  return { title: 'Confirm your address', nodes: [el('h1', {}, 'Confirm your address'), form] };
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
