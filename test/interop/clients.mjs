// Standard OAuth2/JOSE client libraries and an OpenAPI validator against a
// running `jwtledger serve`. Run by interop_test.go, which starts the server
// and creates the clients; each step prints one JSON line
// {"step","ok","detail"} and the script exits 1 if any step failed.
//
// Environment: ISSUER (the server's issuer, its base URL), SVC_ID and
// SVC_SECRET (a client with tokens:verify, token scopes orders:read and
// orders:write, default audience orders-api), ADMIN_ID and ADMIN_SECRET.
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import * as jose from 'jose';
import SwaggerParser from '@apidevtools/swagger-parser';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const issuer = new URL(env('ISSUER'));
const svc = { id: env('SVC_ID'), secret: env('SVC_SECRET') };
const admin = { id: env('ADMIN_ID'), secret: env('ADMIN_SECRET') };
// The server runs on loopback over plain HTTP.
const insecure = { [oauth.allowInsecureRequests]: true };

let failed = 0;
async function step(name, fn) {
  try {
    const detail = await fn();
    console.log(JSON.stringify({ step: name, ok: true, detail: detail ?? '' }));
    return true;
  } catch (e) {
    failed++;
    const cause = e.cause ? ` (cause: ${JSON.stringify(e.cause).slice(0, 300)})` : '';
    console.log(JSON.stringify({ step: name, ok: false, detail: `${e.name}: ${e.message}${cause}` }));
    return false;
  }
}
function expect(cond, what) {
  if (!cond) throw new Error(what);
}

// --- oauth4webapi -----------------------------------------------------------
let as;
const svcClient = { client_id: svc.id };
await step('oauth4webapi discovery (RFC 8414, strict issuer check)', async () => {
  const resp = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure });
  as = await oauth.processDiscoveryResponse(issuer, resp);
  expect(as.issuer === issuer.href.replace(/\/$/, ''), `issuer ${as.issuer}`);
  return `issuer ${as.issuer}`;
});

const tokens = {};
for (const [name, auth] of [
  ['client_secret_basic', oauth.ClientSecretBasic(svc.secret)],
  ['client_secret_post', oauth.ClientSecretPost(svc.secret)],
]) {
  await step(`oauth4webapi client_credentials with ${name}`, async () => {
    const resp = await oauth.clientCredentialsGrantRequest(as, svcClient, auth, new URLSearchParams(), insecure);
    const result = await oauth.processClientCredentialsResponse(as, svcClient, resp);
    expect(result.token_type === 'bearer', `token_type ${result.token_type}`);
    expect(result.scope === 'orders:read orders:write', `scope ${result.scope}`);
    tokens[name] = result.access_token;
    return `expires_in ${result.expires_in}, scope "${result.scope}"`;
  });
}

await step('oauth4webapi validateJwtAccessToken (RFC 9068)', async () => {
  const request = new Request('http://rs.example/orders', { headers: { authorization: `Bearer ${tokens.client_secret_basic}` } });
  const claims = await oauth.validateJwtAccessToken(as, request, 'orders-api', insecure);
  expect(claims.client_id === svc.id && claims.sub === svc.id, `client_id ${claims.client_id}`);
  expect(claims.scope === 'orders:read orders:write', `scope ${claims.scope}`);
  return `aud ${claims.aud}, client_id ${claims.client_id}`;
});

await step('oauth4webapi validateJwtAccessToken, audience defaulting to the issuer', async () => {
  const adminClient = { client_id: admin.id };
  const resp = await oauth.clientCredentialsGrantRequest(as, adminClient, oauth.ClientSecretBasic(admin.secret), new URLSearchParams(), insecure);
  const { access_token } = await oauth.processClientCredentialsResponse(as, adminClient, resp);
  const request = new Request('http://rs.example/', { headers: { authorization: `Bearer ${access_token}` } });
  const claims = await oauth.validateJwtAccessToken(as, request, as.issuer, insecure);
  return `aud ${claims.aud}`;
});

for (const [name, auth] of [
  ['client_secret_basic', oauth.ClientSecretBasic(svc.secret)],
  ['client_secret_post', oauth.ClientSecretPost(svc.secret)],
]) {
  const tok = tokens[name];
  await step(`oauth4webapi introspection (RFC 7662) with ${name}: active`, async () => {
    const resp = await oauth.introspectionRequest(as, svcClient, auth, tok, insecure);
    const result = await oauth.processIntrospectionResponse(as, svcClient, resp);
    expect(result.active === true, `active ${result.active}`);
    expect(result.client_id === svc.id && result.iss === as.issuer, `client_id ${result.client_id} iss ${result.iss}`);
    return `active, iss ${result.iss}`;
  });
  await step(`oauth4webapi revocation (RFC 7009) with ${name}`, async () => {
    const resp = await oauth.revocationRequest(as, svcClient, auth, tok, insecure);
    await oauth.processRevocationResponse(resp);
  });
  await step(`oauth4webapi introspection with ${name} after revocation: inactive`, async () => {
    const resp = await oauth.introspectionRequest(as, svcClient, auth, tok, insecure);
    const result = await oauth.processIntrospectionResponse(as, svcClient, resp);
    expect(result.active === false, `active ${result.active}`);
    return 'inactive';
  });
}

// --- openid-client -----------------------------------------------------------
for (const [name, auth] of [
  ['client_secret_basic', client.ClientSecretBasic(svc.secret)],
  ['client_secret_post', client.ClientSecretPost(svc.secret)],
]) {
  let config, token;
  await step(`openid-client discovery with ${name}`, async () => {
    config = await client.discovery(issuer, svc.id, undefined, auth, { algorithm: 'oauth2', execute: [client.allowInsecureRequests] });
    expect(config.serverMetadata().issuer === as.issuer, `issuer ${config.serverMetadata().issuer}`);
  });
  await step(`openid-client clientCredentialsGrant with ${name}`, async () => {
    const result = await client.clientCredentialsGrant(config, { scope: 'orders:read' });
    expect(result.scope === 'orders:read', `scope ${result.scope}`);
    token = result.access_token;
    return `expires_in ${result.expires_in}`;
  });
  await step(`openid-client tokenIntrospection with ${name}: active`, async () => {
    const result = await client.tokenIntrospection(config, token);
    expect(result.active === true && result.scope === 'orders:read', `active ${result.active} scope ${result.scope}`);
  });
  await step(`openid-client tokenRevocation with ${name}`, async () => {
    await client.tokenRevocation(config, token);
  });
  await step(`openid-client tokenIntrospection with ${name} after revocation: inactive`, async () => {
    const result = await client.tokenIntrospection(config, token);
    expect(result.active === false, `active ${result.active}`);
  });
}

// --- jose ---------------------------------------------------------------------
await step('jose createRemoteJWKSet + jwtVerify of a /v1/tokens token', async () => {
  const resp = await fetch(new URL('v1/tokens', as.issuer + '/'), {
    method: 'POST',
    headers: { authorization: `Bearer ${admin.secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ sub: 'alice', aud: 'api', ttl: '10m', claims: { role: 'admin' } }),
  });
  const body = await resp.text();
  expect(resp.status === 200, `POST /v1/tokens: ${resp.status} ${body}`);
  const { token } = JSON.parse(body);
  const jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri));
  const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, { issuer: as.issuer, audience: 'api', requiredClaims: ['exp', 'iat', 'jti'] });
  expect(payload.sub === 'alice' && payload.role === 'admin', `payload ${JSON.stringify(payload)}`);
  return `alg ${protectedHeader.alg}, kid ${protectedHeader.kid}`;
});

await step('jose jwtVerify of an access token (typ at+jwt)', async () => {
  const config = await client.discovery(issuer, svc.id, undefined, client.ClientSecretBasic(svc.secret), { algorithm: 'oauth2', execute: [client.allowInsecureRequests] });
  const { access_token } = await client.clientCredentialsGrant(config);
  const jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri));
  const { payload } = await jose.jwtVerify(access_token, jwks, { issuer: as.issuer, audience: 'orders-api', typ: 'at+jwt' });
  return `client_id ${payload.client_id}`;
});

// --- swagger-parser -----------------------------------------------------------
await step('swagger-parser validation of /openapi.yaml', async () => {
  const url = new URL('openapi.yaml', as.issuer + '/').href;
  // The document is read from the server itself; loopback is an "unsafe"
  // URL to the resolver unless told otherwise.
  const api = await SwaggerParser.validate(url, { resolve: { http: { safeUrlResolver: false, headers: { Authorization: `Bearer ${admin.secret}` } } } });
  expect(api.openapi === '3.1.0', `openapi ${api.openapi}`);
  expect(api.servers?.[0]?.url === as.issuer, `servers ${JSON.stringify(api.servers)}`);
  return `OpenAPI ${api.openapi}, ${Object.keys(api.paths).length} paths, servers ${api.servers[0].url}`;
});

process.exitCode = failed ? 1 : 0;
