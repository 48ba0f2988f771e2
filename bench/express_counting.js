// express-session + connect-mongo with the MongoDB driver's command monitoring, for
// bench/roundtrips.py: counts the commands each request sends. Uses the packages installed in
// tests/interop/node_modules (cd tests/interop && npm ci), never modifies them.
//
// Environment: PORT, MONGODB_URL (with the database), SECRET, TOUCH_AFTER (seconds),
// BENCH_COUNT_COMMANDS=1 to count (commandStarted listener). Routes, registered after the session
// middleware as an app using sessions everywhere would:
//   GET /static  never touches req.session      GET /read  reads the counter
//   GET /inc     increments the counter         GET /__commands[?reset=1]  counts so far (JSON),
//                                                registered before the session middleware
'use strict';

const path = require('node:path');
const { createRequire } = require('node:module');

const interop = createRequire(path.join(__dirname, '..', 'tests', 'interop', 'package.json'));
const express = interop('express');
const session = interop('express-session');
const { MongoStore } = interop('connect-mongo');
const { MongoClient } = interop('mongodb');

const env = process.env;
const port = Number(env.PORT);
if (!Number.isInteger(port) || port <= 0 || !env.MONGODB_URL || !env.SECRET) {
  console.error('express_counting.js needs PORT, MONGODB_URL (with a database) and SECRET');
  process.exit(2);
}

const counting = env.BENCH_COUNT_COMMANDS === '1';
let counts = {};

async function main() {
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
    store.close().finally(() => process.exit(0));
  });
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
