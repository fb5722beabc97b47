/* What the app keeps on the phone, in one IndexedDB database:
 *   session  the login (token, staff) under the key "current";
 *   lists    the team's work lists as last loaded (key: list name);
 *   cards    residents' health records for reading offline (key: resident id);
 *   queue    entries made on the phone, in the order made (key: seq), until and after they are sent.
 * Logging out deletes the whole database. */
const NAME = "jiayi-app";
const STORES = { session: {}, lists: {}, cards: {}, queue: { keyPath: "seq", autoIncrement: true } };
let opened = null;

function open() {
  if (!opened) {
    opened = new Promise((resolve, reject) => {
      const request = indexedDB.open(NAME, 1);
      request.onupgradeneeded = () => {
        for (const [name, options] of Object.entries(STORES)) {
          if (!request.result.objectStoreNames.contains(name)) request.result.createObjectStore(name, options);
        }
      };
      request.onsuccess = () => {
        const db = request.result;
        // Another tab deleting the database (logout) must not be blocked by this one.
        db.onversionchange = () => { db.close(); opened = null; };
        resolve(db);
      };
      request.onerror = () => reject(request.error);
    });
  }
  return opened;
}

async function run(store, mode, work) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(store, mode);
    let result;
    const request = work(tx.objectStore(store));
    if (request) request.onsuccess = () => { result = request.result; };
    tx.oncomplete = () => resolve(result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

export const get = (store, key) => run(store, "readonly", (s) => s.get(key));
export const put = (store, value, key) => run(store, "readwrite", (s) => (key === undefined ? s.put(value) : s.put(value, key)));
export const del = (store, key) => run(store, "readwrite", (s) => s.delete(key));
export const all = (store) => run(store, "readonly", (s) => s.getAll());
export const keys = (store) => run(store, "readonly", (s) => s.getAllKeys());

/* Replace the cards kept for offline reading by these (id -> record), dropping the others. */
export async function keepCards(cards) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction("cards", "readwrite");
    const store = tx.objectStore("cards");
    store.clear();
    for (const [id, card] of Object.entries(cards)) store.put(card, id);
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
}

/* Everything on the phone, gone: the database, and any cache but the app shell's. */
export async function wipe() {
  if (opened) { (await opened).close(); opened = null; }
  await new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(NAME);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
    request.onblocked = () => resolve();
  });
  if (self.caches) {
    for (const name of await caches.keys()) {
      if (!name.startsWith("jiayi-app-shell-")) await caches.delete(name);
    }
  }
}
