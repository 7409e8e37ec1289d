// oracle.js - the providers' own SDKs as verifiers for
// tests/integration/test_senders.py and test_keys.py: reads {"op":..., ...} as JSON on
// stdin, prints {"ok":true} when the SDK accepts the request, else
// {"ok":false,"error":"..."}. Never hookspool's code.
'use strict';
const fs = require('fs');
// Debian 12's Node.js is 18, where two globals that newer SDKs take for
// granted are only modules: File (undici, under @slack/bolt) and the Web
// Crypto `crypto` (@workos-inc/node). Give them the same objects Node 20
// makes global; on Node 20 and later nothing changes.
if (typeof globalThis.File === 'undefined') globalThis.File = require('buffer').File;
if (typeof globalThis.crypto === 'undefined') globalThis.crypto = require('crypto').webcrypto;

async function check(q) {
  switch (q.op) {
  case 'slack': {
    const { verifySlackRequest } = require('@slack/bolt');
    verifySlackRequest({
      signingSecret: q.secret, body: q.body,
      headers: { 'x-slack-signature': q.signature,
                 'x-slack-request-timestamp': Number(q.timestamp) },
      nowMilliseconds: q.now * 1000,
    });
    return true;
  }
  case 'paddle': {
    const { Paddle } = require('@paddle/paddle-node-sdk');
    const paddle = new Paddle('pdl_sdbx_apikey_oracle_only');
    return await paddle.webhooks.isSignatureValid(q.body, q.secret, q.signature);
  }
  case 'mercadopago': {
    const { WebhookSignatureValidator } = require('mercadopago');
    WebhookSignatureValidator.validate({ xSignature: q.signature, xRequestId: q.request_id,
                                         dataId: q.data_id, secret: q.secret });
    return true;
  }
  case 'workos': {
    // WorkOS's SDK: WorkOS-Signature "t=<ms>, v1=<hex>" over t "." body.
    const { WorkOS } = require('@workos-inc/node');
    const workos = new WorkOS('sk_test_oracle_only');
    await workos.webhooks.verifyHeader({ payload: q.body, sigHeader: q.signature, secret: q.secret });
    return true;
  }
  case 'typeform': {
    // Typeform ships no SDK for this; the verifier of its page "Secure
    // your webhooks" (Node.js), as published: Base64 HMAC-SHA256 of the
    // payload after "sha256=".
    const crypto = require('crypto');
    const hash = crypto.createHmac('sha256', q.secret).update(q.body).digest('base64');
    return q.signature === `sha256=${hash}`;
  }
  case 'octokit': {
    // GitHub's @octokit/webhooks-methods: "sha256=" hex HMAC of the body.
    const { verify } = await import('@octokit/webhooks-methods');   // ESM only
    return await verify(q.secret, q.body, q.signature);
  }
  case 'twilio': {
    // Twilio's SDK: validateRequest for a form body (the params), and
    // validateRequestWithBody for a JSON one (bodySHA256 in the URL).
    const twilio = require('twilio');
    if (q.json) return twilio.validateRequestWithBody(q.secret, q.signature, q.url, q.body);
    return twilio.validateRequest(q.secret, q.signature, q.url, q.params);
  }
  case 'discord': {
    const { verifyKey } = require('discord-interactions');
    return await verifyKey(q.body, q.signature, q.timestamp, q.public_key);
  }
  case 'sendgrid': {
    const { EventWebhook } = require('@sendgrid/eventwebhook');
    const ew = new EventWebhook();
    return ew.verifySignature(ew.convertPublicKeyToECDSA(q.public_key), q.body, q.signature,
                              q.timestamp);
  }
  case 'standard': {
    // standardwebhooks verifies v1 (HMAC) entries and passes over others
    // (a v1a beside them).
    const { Webhook } = require('standardwebhooks');
    new Webhook(q.secret).verify(q.body, q.headers);
    return true;
  }
  case 'square': {
    // Square's published Node.js example (Webhooks, "Validate
    // notifications"): Base64 HMAC-SHA256 of the notification URL and
    // the body, compared with x-square-hmacsha256-signature.
    const crypto = require('crypto');
    const hash = crypto.createHmac('sha256', q.secret).update(q.url + q.body).digest('base64');
    return hash === q.signature;
  }
  default:
    throw new Error('unknown op ' + q.op);
  }
}

check(JSON.parse(fs.readFileSync(0, 'utf8')))
  .then((ok) => process.stdout.write(JSON.stringify({ ok: ok === true }) + '\n'))
  .catch((e) => process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.message || e) }) + '\n'));
