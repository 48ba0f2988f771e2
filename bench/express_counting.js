// express-session on one of three stores, for bench/roundtrips.py and bench/e2e.py: connect-mongo
// (with the MongoDB driver's command monitoring, to count the commands each request sends),
// connect-redis 9 on node-redis 5, or connect-pg-simple 10 on pg 8, each with its defaults. Uses the
// packages installed in tests/interop/node_modules (cd tests/interop && npm ci), never modifies them.
//
// Environment: PORT, SECRET, STORE ("mongo", the default, "redis" or "postgres"), and
//   mongo:    MONGODB_URL (with the database), TOUCH_AFTER (seconds), BENCH_COUNT_COMMANDS=1 to count
//             (commandStarted listener; Redis and PostgreSQL are counted by the servers themselves)
//   redis:    REDIS_URL (redis://127.0.0.1:PORT/DB)
//   postgres: DATABASE_URL (postgresql://USER@127.0.0.1:PORT/DB); the table "session" is created if missing
// Routes, registered after the session middleware as an app using sessions everywhere would:
//   GET /static  never touches req.session      GET /read  reads the counter
//   GET /inc     increments the counter         GET /__commands[?reset=1]  counts so far (JSON),
//                                                registered before the session middleware
'use strict';

const path = require('node:path');
const { createRequire } = require('node:module');

const interop = createRequire(path.join(__dirname, '..', 'tests', 'interop', 'package.json'));
const express = interop('express');
const session = interop('express-session');

const env = process.env;
const port = Number(env.PORT);
const kind = env.STORE || 'mongo';
const needs = { mongo: 'MONGODB_URL', redis: 'REDIS_URL', postgres: 'DATABASE_URL' }[kind];
if (!Number.isInteger(port) || port <= 0 || !env.SECRET || !needs || !env[needs]) {
  console.error('express_counting.js needs PORT, SECRET, STORE (mongo, redis or postgres) and ' +
                'MONGODB_URL (with a database), REDIS_URL or DATABASE_URL for that store');
  process.exit(2);
}

const counting = env.BENCH_COUNT_COMMANDS === '1';
let counts = {};

// The store and a function that closes it (and its client).
async function openStore() {
  if (kind === 'redis') {
    const { RedisStore } = interop('connect-redis');
    const { createClient } = interop('redis');
    const client = createClient({ url: env.REDIS_URL });
    client.on('error', (err) => console.error('redis client:', err.message));
    await client.connect();
    return [new RedisStore({ client }), () => client.quit()];
  }
  if (kind === 'postgres') {
    const { Pool } = interop('pg');
    const PgStore = interop('connect-pg-simple')(session);
    const pool = new Pool({ connectionString: env.DATABASE_URL });
    const store = new PgStore({ pool, createTableIfMissing: true });
    return [store, async () => { store.close(); await pool.end(); }];
  }
  const { MongoStore } = interop('connect-mongo');
  const { MongoClient } = interop('mongodb');
  const client = new MongoClient(env.MONGODB_URL, { serverSelectionTimeoutMS: 5000, monitorCommands: counting });
  if (counting) {
    client.on('commandStarted', (event) => {
      counts[event.commandName] = (counts[event.commandName] || 0) + 1;
    });
  }
  await client.connect();
  const store = MongoStore.create({
    client,
    collectionName: 'sessions',
    touchAfter: Number(env.TOUCH_AFTER || 0),
    autoRemove: 'interval', // FerretDB has no TTL indexes (as tests/interop/server.js)
  });
  return [store, () => store.close()];
}

async function main() {
  const [store, closeStore] = await openStore();
  const app = express();
  app.get('/__commands', (req, res) => {
    const snapshot = counts;
    if (req.query.reset) counts = {};
    res.json(snapshot);
  });
  app.use(session({ secret: [env.SECRET], store, resave: false, saveUninitialized: false }));
  app.get('/static', (req, res) => res.type('text').send('static page, no session\n'));
  app.get('/read', (req, res) => res.type('text').send(`Hola has visto esta página ${req.session.cuenta || 0}`));
  app.get('/inc', (req, res) => {
    req.session.cuenta = (req.session.cuenta || 0) + 1;
    res.type('text').send(`Hola has visto esta página ${req.session.cuenta}`);
  });
  const server = app.listen(port, '127.0.0.1', () => console.log(`express_counting listening on ${port}`));
  process.on('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    Promise.resolve().then(closeStore).finally(() => process.exit(0));
  });
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
