import Database from 'better-sqlite3';
import { expect } from 'chai';
import { ChatReadMarkers, READ_MARKER_MIGRATIONS, ReadMarkers } from '../../../plugins/http-ui/read-markers.js';

describe('http-ui: read markers', () => {
  let db: Database.Database;
  let markers: ReadMarkers;
  beforeEach(() => {
    db = new Database(':memory:');
    for (const migration of READ_MARKER_MIGRATIONS) migration.up(db);
    markers = new ReadMarkers(db);
  });
  afterEach(() => db.close());

  it('counts incoming messages after the marker, and reading clears them', () => {
    expect(markers.unread('aa')).to.equal(0);
    markers.countIncoming('aa', 10);
    markers.countIncoming('aa', 11);
    expect(markers.unread('aa')).to.equal(2);
    expect(markers.unread('bb')).to.equal(0);
    markers.markRead('aa', 11);
    expect(markers.unread('aa')).to.equal(0);
    // A message at or before the marker (seen again after a restart) is not counted twice.
    markers.countIncoming('aa', 11);
    markers.countIncoming('aa', 5);
    expect(markers.unread('aa')).to.equal(0);
    markers.countIncoming('aa', 12);
    expect(markers.unread('aa')).to.equal(1);
  });

  it('keeps the count when the marker read is older than the newest counted message', () => {
    markers.countIncoming('aa', 20);
    markers.countIncoming('aa', 21);
    markers.markRead('aa', 20);
    expect(markers.unread('aa')).to.equal(2);
    markers.markRead('aa', 21);
    expect(markers.unread('aa')).to.equal(0);
    // The marker never moves back.
    markers.markRead('aa', 3);
    markers.countIncoming('aa', 15);
    expect(markers.unread('aa')).to.equal(0);
  });

  it('always counts messages without a sequence number, and forgets a chat', () => {
    markers.markRead('aa', 0);
    markers.countIncoming('aa', 0);
    markers.countIncoming('aa', 0);
    expect(markers.unread('aa')).to.equal(2);
    markers.forget('aa');
    expect(markers.unread('aa')).to.equal(0);
  });

  it('addresses chats by network ID through the chat list, by chat ID when a service gives none', () => {
    let chats: Array<Record<string, unknown>> = [{ chatId: 1, networkId: Buffer.from('0a0b', 'hex') }, { chatId: 2 }];
    const byChat = new ChatReadMarkers(markers, () => () => chats);
    byChat.countIncoming(1, 7);
    byChat.countIncoming(2, 8);
    expect(markers.unread('0a0b')).to.equal(1);
    expect(markers.unread('2')).to.equal(1);
    expect(byChat.unreadOf(1)).to.equal(1);
    // Chat 1 left and joined again under a new local ID: the same network, the same marker.
    byChat.forget(1);
    expect(markers.unread('0a0b')).to.equal(0);
    chats = [{ chatId: 3, networkId: Buffer.from('0a0b', 'hex') }];
    byChat.reset();
    byChat.countIncoming(3, 10);
    expect(byChat.unreadOf(3)).to.equal(1);
    expect(byChat.unreadOf(99)).to.equal(0);
    const locked = new ChatReadMarkers(markers, () => undefined);
    expect(locked.unreadOf(3)).to.equal(0);
    locked.markRead(3, 1);
  });
});
