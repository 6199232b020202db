import { expect } from 'chai';
import type { StoredMessage } from '../../../core/chat/history-store.js';
import type { PluginApi } from '../../../core/plugin.js';
import type { MessageEvent } from '../../../core/types.js';
import { Testnet, waitFor, type TestPeer } from '../../helpers/testnet.js';

const PLUGIN_TYPE = 200;

describe('chat networks: own devices and plugin message types', function () {
  this.timeout(30_000);
  let net: Testnet | undefined;

  afterEach(async () => {
    await net?.stop();
    net = undefined;
  });

  it('a second device of the same profile joins, and my messages appear on both of my devices', async () => {
    net = await Testnet.start(2, ['alice@test.local', 'bob@test.local']);
    const [alice, bob] = net.peers as [TestPeer, TestPeer];
    const phone = await net.addDevice(alice);
    const ids = new Map<TestPeer, number>();
    for (const p of [alice, bob, phone]) ids.set(p, (await p.chat.createGroup('family')).chatId);
    await waitFor(() => alice.chat.transport.stats.sessions === 2 && phone.chat.transport.stats.sessions === 2 && bob.chat.transport.stats.sessions === 2, 'three sessions each side');
    // Bob sees alice (one identity, two devices); alice's devices see each other as alice.
    expect(bob.chat.service.onlineMembers(ids.get(bob)!)).to.deep.equal([alice.email]);
    expect(alice.chat.service.onlineMembers(ids.get(alice)!)).to.deep.equal([alice.email, bob.email]);

    const onPhone: StoredMessage[] = [];
    phone.chat.on('message', (_c: number, m: StoredMessage) => onPhone.push(m));
    const sent = alice.chat.send(ids.get(alice)!, 'from my laptop');
    await waitFor(() => onPhone.length === 1 && bob.chat.history(ids.get(bob)!).messages.length === 1, 'copies on the phone and at bob');
    expect(onPhone[0]!.id.equals(sent.id)).to.equal(true);
    expect(onPhone[0]!.outgoing).to.equal(true);
    expect(bob.chat.history(ids.get(bob)!).messages).to.have.length(1);
  });

  it('a type registered by a plugin travels to the other kernels\' hooks.message with its payload', async () => {
    const seen: Array<{ at: string; event: MessageEvent }> = [];
    let booted = 0;
    const net0 = new Testnet();
    net = net0;
    net0.extraPlugins = () => {
      const at = `node${booted++}`;
      return [
        {
          definition: {
            name: 'test-type-200',
            version: '0.0.0',
            apply(api: PluginApi) {
              api.hooks.registerMessageTypes.tap('test-type-200', (registry) => registry.register(PLUGIN_TYPE, 'test-ping', 'test-type-200'));
              api.hooks.message.tapPromise('test-type-200', async (event) => {
                if (event.type === PLUGIN_TYPE) seen.push({ at, event });
              });
            },
          },
        },
      ];
    };
    const a = await net0.addPeer('a@test.local', 0);
    const b = await net0.addPeer('b@test.local', 1);
    const ga = await a.chat.createGroup('plugins');
    const gb = await b.chat.createGroup('plugins');
    await waitFor(() => a.chat.service.onlineMembers(ga.chatId).length === 1 && b.chat.service.onlineMembers(gb.chatId).length === 1, 'a and b meet');
    a.chat.service.sendPluginMessage(ga.chatId, PLUGIN_TYPE, Buffer.from('ping'));
    await waitFor(() => seen.length === 1, 'plugin message at b');
    expect(seen[0]!.at).to.equal('node1');
    expect(seen[0]!.event.from).to.equal('a@test.local');
    expect(seen[0]!.event.networkId.equals(gb.networkId)).to.equal(true);
    expect(Buffer.isBuffer(seen[0]!.event.body) && (seen[0]!.event.body as Buffer).toString()).to.equal('ping');
    // Text messages reach the hook too, as the stored message.
    b.chat.send(gb.chatId, 'hello');
    await waitFor(() => a.chat.history(ga.chatId).messages.length === 1, 'text at a');
  });
});
