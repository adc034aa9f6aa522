// A real OpenID Provider on loopback for Portico's single sign-on tests: node's oidc-provider (a
// certified implementation) with its development login page, where any login name with any
// password signs in and the login name picks the account.
//
// Environment:
//   OIDC_PORT                  the port on 127.0.0.1; the issuer is http://127.0.0.1:<port>
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET
//   OIDC_REDIRECT_URIS         comma-separated (Portico's <portal>/oidc/callback/)
//   OIDC_POST_LOGOUT_REDIRECT_URIS  comma-separated (Portico's <portal>/accounts/login/)
//   OIDC_ACCOUNTS_FILE         a JSON file {"<login>": {"groups": [...], "organization": "...", ...}},
//                              read again on every sign-in, so a test can change an account's groups
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const clientId = process.env.OIDC_CLIENT_ID;
const list = (value) => (value || '').split(',').map((item) => item.trim()).filter(Boolean);

function readAccounts() {
  return JSON.parse(readFileSync(process.env.OIDC_ACCOUNTS_FILE, 'utf8'));
}

const configuration = {
  clients: [
    {
      client_id: clientId,
      client_secret: process.env.OIDC_CLIENT_SECRET,
      redirect_uris: list(process.env.OIDC_REDIRECT_URIS),
      post_logout_redirect_uris: list(process.env.OIDC_POST_LOGOUT_REDIRECT_URIS),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  // Every client must send a PKCE challenge (S256), confidential ones too.
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username', 'organization'],
    groups: ['groups'],
  },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  // A company's own portal needs no consent screen: the grant is given on first sign-in.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      return ctx.oidc.provider.Grant.find(grantId);
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
  async findAccount(ctx, id) {
    const account = readAccounts()[id];
    if (!account) {
      return undefined;
    }
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@example.test`,
          email_verified: true,
          preferred_username: id,
          name: account.name || id,
          given_name: account.given_name || id,
          family_name: account.family_name || 'Tester',
          organization: account.organization,
          groups: account.groups,
        };
      },
    };
  },
  cookies: { keys: ['portico-test-provider-cookie-key'] },
  ttl: { Session: 3600, Interaction: 600, Grant: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
};

const provider = new Provider(`http://127.0.0.1:${port}`, configuration);
provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on http://127.0.0.1:${port}`);
});
