-- Accounts created through Sign in with Apple or Google have no password until a reset link sets one: the hash
-- becomes optional. Additive for the previous release: its sign-in already treats a missing hash as a wrong password.
alter table users alter column password_hash drop not null;

-- Apple's server-to-server notifications for Sign in with Apple: whether the person stopped the forwarding of their
-- private-relay address (email-disabled / email-enabled), and the time of the newest event applied to the identity
-- (older events arriving late, or replayed, change nothing).
alter table user_identities add column email_forwarding_disabled boolean not null default false;
alter table user_identities add column provider_event_at timestamptz;

-- Sessions ended because the person revoked CookCam's access to their Apple ID (consent-revoked).
alter table sessions drop constraint sessions_revoked_reason_check;
alter table sessions add constraint sessions_revoked_reason_check check (
    revoked_reason in (
        'signout', 'refresh_token_reuse', 'password_change', 'password_reset', 'signout_all', 'apple_consent_revoked'
    )
);
