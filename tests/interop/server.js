// The Express twin of python_app.py: express 5 + express-session 1.19 + connect-mongo 6, connect-redis 9
// (node-redis 5) or connect-pg-simple 10 (pg 8). Driven by tests/test_interop*.py; configured only from
// the environment:
//   PORT, SECRETS (JSON list), COOKIE (JSON of express cookie options), PROXY ("true"/"false");
//   STORE: "mongo" (the default), "redis" or "postgres", the peer store, and its own variables:
//     mongo     MONGODB_URL (with the database), COLLECTION, TOUCH_AFTER (seconds), AUTO_REMOVE
//               ("interval" or "disabled": FerretDB has no TTL indexes, so never "native");
//     redis     REDIS_URL (redis://host:port[/db]), PREFIX (connect-redis's, default "sess:");
//     postgres  POSTGRES_URL (postgresql://user@host:port/db), TABLE (default "session"), created
//               by connect-pg-simple if missing (createTableIfMissing);
//     both      TTL: seconds a session whose cookie has no expiry lives (absent: the store's default,
//               one day).
// Encryption at rest and hashed ids are connect-mongo's only (connect-redis and connect-pg-simple
// have neither): with another STORE they are refused.
// Encryption at rest and hashed ids (python_app.py reads the same two variables the same way):
//   AT_REST_CRYPTO    JSON {"kind": "webcrypto" | "kruptein", "secret": "<non-empty string>"}:
//                     "webcrypto" is cryptoAdapter: createWebCryptoAdapter({ secret }), "kruptein"
//                     the legacy crypto: { secret }. Only the session field is encrypted. Absent: off.
//   AT_REST_TRANSFORM "sha256": transformId stores sid as the hex SHA-256 of the id. Absent: off.
// GET /login?user=U is a Node login that binds the session to U the way a Node app shares its
// logins with wsgisession (the userId field, see the route); python_app.py's is session.login.
'use strict';

const express = require('express');
const session = require('express-session');
const { MongoStore, createWebCryptoAdapter } = require('connect-mongo');
const nodeCrypto = require('crypto');
const { MongoClient } = require('mongodb');

function fail(message) {
  console.error(`interop server.js cannot start: ${message}`);
  process.exit(2);
}

function config() {
  const env = process.env;
  const json = (name, fallback) => {
    if (!env[name]) return fallback;
    try { return JSON.parse(env[name]); } catch (err) { return fail(`${name} is not JSON: ${err.message}`); }
  };
  const port = Number(env.PORT);
  if (!Number.isInteger(port) || port <= 0) fail('PORT must be a TCP port number');
  const store = env.STORE || 'mongo';
  if (!['mongo', 'redis', 'postgres'].includes(store)) fail('STORE must be "mongo", "redis" or "postgres"');
  if (store === 'mongo' && !env.MONGODB_URL) fail('MONGODB_URL (with the database in its path) is required');
  if (store === 'redis' && !env.REDIS_URL) fail('REDIS_URL (redis://host:port) is required with STORE=redis');
  if (store === 'postgres' && !env.POSTGRES_URL) fail('POSTGRES_URL (postgresql://user@host:port/db) is required with STORE=postgres');
  if (env.TTL && (store === 'mongo' || !(Number(env.TTL) > 0))) fail('TTL must be seconds > 0, with STORE=redis or postgres');
  if (store !== 'mongo' && (env.AT_REST_CRYPTO || env.AT_REST_TRANSFORM)) {
    fail(`AT_REST_CRYPTO and AT_REST_TRANSFORM are connect-mongo's: STORE=${store} has no encryption nor transformId`);
  }
  const secrets = json('SECRETS', null);
  if (!Array.isArray(secrets) || secrets.length === 0) fail('SECRETS must be a non-empty JSON list');
  const autoRemove = env.AUTO_REMOVE || 'interval';
  if (!['interval', 'disabled'].includes(autoRemove)) fail('AUTO_REMOVE must be "interval" or "disabled"');
  if (!['', 'true', 'false'].includes(env.PROXY || '')) fail('PROXY must be "true" or "false"');
  const atRestCrypto = json('AT_REST_CRYPTO', null);
  if (env.AT_REST_CRYPTO) {
    const shape = atRestCrypto && typeof atRestCrypto === 'object' && !Array.isArray(atRestCrypto)
      && Object.keys(atRestCrypto).sort().join(',') === 'kind,secret'
      && ['webcrypto', 'kruptein'].includes(atRestCrypto.kind)
      && typeof atRestCrypto.secret === 'string' && atRestCrypto.secret !== '';
    if (!shape) fail('AT_REST_CRYPTO must be JSON {"kind": "webcrypto" | "kruptein", "secret": "<non-empty string>"}');
  }
  const atRestTransform = env.AT_REST_TRANSFORM || null;
  if (atRestTransform !== null && atRestTransform !== 'sha256') fail('AT_REST_TRANSFORM must be "sha256"');
  return {
    port,
    store,
    redisUrl: env.REDIS_URL,
    prefix: env.PREFIX ?? 'sess:',
    postgresUrl: env.POSTGRES_URL,
    table: env.TABLE || 'session',
    ttl: env.TTL ? Number(env.TTL) : undefined,
    url: env.MONGODB_URL,
    collection: env.COLLECTION || 'sessions',
    secrets,
    cookie: json('COOKIE', {}),
    proxy: env.PROXY === 'true',
    touchAfter: Number(env.TOUCH_AFTER || 0),
    autoRemove,
    atRestCrypto,
    atRestTransform,
  };
}

// The store options for AT_REST_CRYPTO and AT_REST_TRANSFORM (none when both are absent).
function atRestOptions(cfg) {
  const options = {};
  const secret = cfg.atRestCrypto?.secret;
  if (cfg.atRestCrypto?.kind === 'webcrypto') options.cryptoAdapter = createWebCryptoAdapter({ secret });
  if (cfg.atRestCrypto?.kind === 'kruptein') options.crypto = { secret };
  if (cfg.atRestTransform === 'sha256') {
    options.transformId = (sid) => nodeCrypto.createHash('sha256').update(sid).digest('hex');
  }
  return options;
}

// The session's own data: no `cookie`, no `lastModified` (connect-mongo injects it when touchAfter > 0).
function sessionData(sess) {
  const data = {};
  for (const key of Object.keys(sess)) {
    if (key !== 'cookie' && key !== 'lastModified') data[key] = sess[key];
  }
  return data;
}

function describe(req) {
  const cookie = req.session.cookie;
  return {
    id: req.sessionID,
    data: sessionData(req.session),
    cookie: { originalMaxAge: cookie.originalMaxAge ?? null, expires: cookie.expires ? cookie.expires.toISOString() : null },
  };
}

// store: the express-session store; bind(sid, account): binds sid's saved record to a user the way
// wsgisession reads it (connect-mongo only: top-level fields of the document), or null.
function routes(app, store, bind) {
  app.get('/inc', (req, res) => {
    req.session.cuenta = (req.session.cuenta || 0) + 1;
    res.json({ cuenta: req.session.cuenta, id: req.sessionID });
  });
  app.get('/session', (req, res) => res.json(describe(req)));
  app.post('/set', (req, res) => {
    const body = req.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return res.status(400).json({ error: 'the body must be a JSON object' });
    }
    Object.assign(req.session, body);
    res.json(describe(req));
  });
  app.get('/max-age', (req, res) => {
    const ms = Number(req.query.ms);
    if (!Number.isFinite(ms) || ms < 0) return res.status(400).json({ error: 'ms must be a number >= 0' });
    req.session.cookie.maxAge = ms;
    req.session.maxAgeMs = ms; // a data change, so express-session saves the session
    res.json(describe(req));
  });
  app.get('/regenerate', (req, res, next) => {
    const data = sessionData(req.session); // express's regenerate empties the session: carry it over
    req.session.regenerate((err) => {
      if (err) return next(err);
      Object.assign(req.session, data);
      res.json(describe(req));
    });
  });
  app.get('/destroy', (req, res, next) => {
    const id = req.sessionID;
    req.session.destroy((err) => (err ? next(err) : res.json({ destroyed: id })));
  });
  // What the store itself lists, through express-session's optional all() (connect-mongo, connect-redis;
  // connect-pg-simple has none: 501): every record it finds under its prefix or in its collection is
  // parsed as a session, so a foreign record there breaks it.
  app.get('/store-all', (req, res, next) => {
    if (typeof store.all !== 'function') return res.status(501).json({ error: 'this store has no all()' });
    store.all((err, sessions) => {
      if (err) return next(err);
      const list = Array.isArray(sessions) ? sessions : Object.entries(sessions || {}).map(([id, s]) => ({ ...s, id }));
      res.json(list.map((s) => s.id ?? s._id ?? null).sort());
    });
  });
  // A Node login (express-session's own recipe: regenerate, set, save), then, on connect-mongo, the one
  // line that binds the saved document to the user for wsgisession's sessions_of/revoke_all.
  // connect-mongo's later saves ($set of _id, session, expires) leave these top-level fields alone.
  // The other stores have no binding here: their Node login is an anonymous session holding `user`.
  app.get('/login', (req, res, next) => {
    const user = req.query.user;
    if (typeof user !== 'string' || user === '') return res.status(400).json({ error: 'user is required' });
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.user = user;
      req.session.save(async (saveErr) => {
        if (saveErr) return next(saveErr);
        try {
          const now = new Date();
          const account = { userId: user, loggedInAt: now, authenticatedAt: now };
          const agent = req.get('user-agent');
          if (agent) account.userAgent = agent.slice(0, 512); // wsgisession ignores a longer one
          if (bind) await bind(req.sessionID, account);
          res.json({ id: req.sessionID, user });
        } catch (bindErr) {
          next(bindErr);
        }
      });
    });
  });
  app.use((req, res) => res.status(404).json({ error: 'not found' }));
  app.use((err, req, res, next) => { // eslint-disable-line no-unused-vars
    console.error(`error on ${req.method} ${req.url}:`, err);
    res.status(500).json({ error: String(err && err.message) });
  });
}

// connect-mongo on a MongoClient, configured as the twin always was.
async function mongoPeer(cfg) {
  const client = new MongoClient(cfg.url, { serverSelectionTimeoutMS: 5000 });
  try {
    await client.connect();
    await client.db().command({ ping: 1 });
  } catch (err) {
    fail(`MongoDB at MONGODB_URL does not answer: ${err.message}`);
  }
  const atRest = atRestOptions(cfg);
  const store = MongoStore.create({
    client,
    collectionName: cfg.collection,
    touchAfter: cfg.touchAfter,
    autoRemove: cfg.autoRemove,
    ...atRest,
  });
  const sessions = client.db().collection(cfg.collection);
  const storageId = atRest.transformId ?? ((sid) => sid); // the _id of sid's document
  const bind = (sid, account) => sessions.updateOne({ _id: storageId(sid) }, { $set: account });
  return { store, bind, close: () => store.close() };
}

// connect-redis 9 on a node-redis 5 client: `new RedisStore({client, prefix})`, its defaults otherwise
// (ttl 86400 s when the cookie has no expiry, touch on).
async function redisPeer(cfg) {
  const { createClient } = require('redis');
  const { RedisStore } = require('connect-redis');
  const client = createClient({ url: cfg.redisUrl, socket: { connectTimeout: 5000 } });
  client.on('error', (err) => console.error(`redis client error: ${err.message}`));
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    fail(`Redis at REDIS_URL does not answer: ${err.message}`);
  }
  const store = new RedisStore({ client, prefix: cfg.prefix, ...(cfg.ttl ? { ttl: cfg.ttl } : {}) });
  return { store, bind: null, close: () => client.close() };
}

// connect-pg-simple 10 on a pg 8 pool: the table created if missing, its defaults otherwise (ttl one
// day when the cookie has no expiry, touch on, expired rows pruned every 15 minutes or so).
async function postgresPeer(cfg) {
  const { Pool } = require('pg');
  const PgStore = require('connect-pg-simple')(session);
  const pool = new Pool({ connectionString: cfg.postgresUrl, connectionTimeoutMillis: 5000 });
  pool.on('error', (err) => console.error(`pg pool error: ${err.message}`));
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    fail(`PostgreSQL at POSTGRES_URL does not answer: ${err.message}`);
  }
  const store = new PgStore({ pool, tableName: cfg.table, createTableIfMissing: true, ...(cfg.ttl ? { ttl: cfg.ttl } : {}) });
  return { store, bind: null, close: () => store.close().then(() => pool.end()) };
}

const PEERS = { mongo: mongoPeer, redis: redisPeer, postgres: postgresPeer };

async function main() {
  const cfg = config();
  const { store, bind, close } = await PEERS[cfg.store](cfg);
  const app = express();
  app.use(express.json());
  app.use(session({
    secret: cfg.secrets,
    store,
    cookie: cfg.cookie,
    proxy: cfg.proxy,
    resave: false,
    saveUninitialized: false,
  }));
  routes(app, store, bind);
  const server = app.listen(cfg.port, '127.0.0.1', (err) => {
    if (err) fail(`cannot listen on 127.0.0.1:${cfg.port}: ${err.message}`);
    console.log(`interop node app listening on http://127.0.0.1:${cfg.port}/`);
  });
  process.on('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    Promise.resolve().then(close).finally(() => process.exit(0));
  });
}

main().catch((err) => fail(err && err.stack ? err.stack : String(err)));
