-- Accounts created through Sign in with Apple or Google have no password until a reset link sets one: the hash
-- becomes optional. Additive for the previous release: its sign-in already treats a missing hash as a wrong password.
alter table users alter column password_hash drop not null;
