/** In-process file-share nodes on their own SQLite databases and folders, torn down by `stopAll`. */
import { join } from 'node:path';
import { Storage } from '../../../../core/storage.js';
import { FileShareEngine, type FileShareEngineOptions } from '../../../../plugins/file-share/engine.js';
import { FILE_SHARE_MIGRATIONS, FileShareStore } from '../../../../plugins/file-share/store.js';

export interface TestNode {
  id: string;
  engine: FileShareEngine;
  storage: Storage;
  downloadDir: string;
  /** Stops the engine and closes its database (a process exit, as far as state goes). */
  stop(): Promise<void>;
}

export async function startNode(root: string, id: string, options: Partial<FileShareEngineOptions> = {}): Promise<TestNode> {
  const storage = new Storage(join(root, id, 'bitchat.db'));
  storage.open();
  storage.migrate(FILE_SHARE_MIGRATIONS);
  const downloadDir = join(root, id, 'downloads');
  const engine = new FileShareEngine({
    selfId: id, store: new FileShareStore(storage.db), downloadDir, fsync: 'batch', requestTimeoutMs: 5_000, ...options,
  });
  await engine.start();
  let stopped = false;
  return {
    id, engine, storage, downloadDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await engine.close();
      storage.close();
    },
  };
}

/** Resolves with the engine's 'complete' event for `fileId`, or rejects after `ms`. */
export function completed(engine: FileShareEngine, fileId: string, ms = 20_000): Promise<string> {
  const done = engine.get(fileId);
  if (done?.state === 'done' && done.path) return Promise.resolve(done.path);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      engine.off('complete', onComplete);
      reject(new Error(`${engine.selfId} did not complete ${fileId.slice(0, 8)} in ${ms} ms`));
    }, ms);
    const onComplete = (info: { fileId: string; path: string | null }): void => {
      if (info.fileId !== fileId) return;
      clearTimeout(timer);
      engine.off('complete', onComplete);
      resolve(info.path!);
    };
    engine.on('complete', onComplete);
  });
}
