/**
 * http-ui: the local web app and the JSON + WebSocket API behind it, on
 * 127.0.0.1 by default, guarded by a per-run token (see security.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { definePlugin } from '../../core/plugin.js';
import { EventBridge } from './bridge.js';
import { CaRegistration } from './ca-registration.js';
import { caTransportOf } from './ca-transport.js';
import { installErrorHandler } from './errors.js';
import { addChatRoutes } from './routes/chats.js';
import { addFileRoutes } from './routes/files.js';
import { addInvitationRoutes } from './routes/invitations.js';
import { addNodeRoutes } from './routes/node.js';
import { addFirstRunRoutes } from './routes/first-run.js';
import { addProfileRoutes, identityOf } from './routes/profile.js';
import { addSettingsRoutes } from './routes/settings.js';
import { READ_MARKER_MIGRATIONS } from './read-markers.js';
import { REGISTRATION_MIGRATIONS, RegistrationStore } from './registration-store.js';
import { newToken } from './security.js';
import { PACKAGE_ROOT, startUiServer, type UiServer } from './server.js';
import type { UiEvent } from './event-hub.js';

export interface HttpUiOptions {
  /** Address to listen on. Anything but loopback exposes the UI to the network (still token-protected). */
  host: string;
  /** TCP port (if taken, one of the next 10 or any free one); 0 picks a free one. */
  port: number;
}

/** What other plugins and the CLI get from `resolve('httpUi')`. */
export interface HttpUiService {
  /** The address to open, with this run's access token; null until started. */
  readonly url: string | null;
  /** Push a live event to every open page. */
  publish(event: UiEvent): void;
}

declare module '../../core/plugin.js' {
  interface ServiceMap {
    httpUi: HttpUiService;
  }
}

const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

export default definePlugin<HttpUiOptions>({
  name: 'http-ui',
  version: '0.1.0',
  description: 'Web UI and local JSON/WebSocket API on 127.0.0.1',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      host: { type: 'string', minLength: 1, default: '127.0.0.1', description: 'Address to listen on (loopback by default).' },
      port: { type: 'integer', minimum: 0, maximum: 65535, default: 7447, description: 'TCP port (if taken, one of the next 10 or any free one); 0 picks a free one.' },
    },
  },
  apply(api, options) {
    let server: UiServer | null = null;
    const token = newToken();
    const publish = (event: UiEvent): void => server?.hub.publish(event);
    const bridge = new EventBridge(api, publish);
    const registration = new CaRegistration(
      () => identityOf(api),
      (current) => publish({ type: 'registration', registration: current }),
      caTransportOf(api),
    );
    const service: HttpUiService = {
      get url() {
        return server?.url ?? null;
      },
      publish,
    };
    api.register('httpUi', service);
    api.hooks.migrations.tap('http-ui', (registry) => {
      for (const migration of [...READ_MARKER_MIGRATIONS, ...REGISTRATION_MIGRATIONS]) registry.add(migration);
    });

    api.hooks.start.tapPromise('http-ui', async () => {
      registration.attach(new RegistrationStore(api.resolve('storage').db));
      server = await startUiServer({
        host: options.host,
        port: options.port,
        token,
        logger: api.logger,
        version: VERSION,
        addRoutes: async (app) => {
          installErrorHandler(app, api.logger);
          addNodeRoutes(app, api, VERSION);
          addProfileRoutes(app, api, publish, () => bridge.attachChat(), () => registration.current, (password) => registration.unlockedWith(password));
          addFirstRunRoutes(app, api, publish, registration);
          addChatRoutes(app, api, bridge);
          addInvitationRoutes(app, api, bridge);
          addSettingsRoutes(app, api);
          addFileRoutes(app, api);
          await api.invokeHttpRoutes(app);
        },
      });
      bridge.start();
      api.logger.info({ port: server.port }, 'web UI listening');
    });
    api.hooks.stop.tapPromise('http-ui', async () => {
      registration.detach();
      bridge.stop();
      await server?.close();
      server = null;
    });
  },
});
