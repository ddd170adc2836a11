-- name: LockLiveHost :one
-- First statement of a session's creation: serialises one host's creations (FOR NO KEY UPDATE, so rows referencing
-- the user can still be inserted meanwhile), so the LIVE_MAX_HOSTED cap counted next holds under concurrency.
select id from users where id = @host_id for no key update;

-- name: CountActiveHostedLiveSessions :one
select count(*)::bigint from live_sessions where host_id = @host_id and status = 'active';

-- name: RecipeStepCount :one
-- A recipe the host may cook: a catalog recipe or their own. No row otherwise.
select jsonb_array_length(steps)::integer as step_count
from recipes
where id = @recipe_id and (user_id is null or user_id = @user_id);

-- name: CreateLiveSession :one
-- The session and its host's participation, in one statement.
with created as (
    insert into live_sessions (host_id, recipe_id, title, visibility, step_count, max_participants)
    values (@host_id, sqlc.narg('recipe_id'), @title, @visibility, sqlc.narg('step_count'), @max_participants)
    returning id, host_id, recipe_id, title, visibility, step_count, current_step, status, max_participants,
              message_count, created_at, ended_at
), host as (
    insert into live_session_participants (session_id, user_id, role)
    select created.id, created.host_id, 'host' from created
)
select id, host_id, recipe_id, title, visibility, step_count, current_step, status, max_participants,
       message_count, created_at, ended_at
from created;

-- name: LockLiveSession :one
-- First statement of every change to a session: one session's changes apply one after the other, and what is
-- checked under the lock still holds at commit. Read what else the change needs (LiveSessionMembers) in a
-- statement of its own after this one: its snapshot then includes what committed while this one waited.
select id, host_id, recipe_id, title, visibility, step_count, current_step, status, max_participants,
       message_count, created_at, ended_at
from live_sessions
where id = @session_id
for update;

-- name: LiveSessionMembers :one
-- Who is in the session now (in joining order), whether @user_id is invited, and how many invitations it has.
select array(
           select p.user_id from live_session_participants p
           where p.session_id = @session_id and p.left_at is null
           order by p.joined_at, p.user_id
       )::uuid[] as participant_ids,
       exists (
           select from live_session_invitations i where i.session_id = @session_id and i.user_id = @user_id
       ) as invited,
       (select count(*) from live_session_invitations i where i.session_id = @session_id)::bigint as invitations;

-- name: JoinLiveSession :exec
-- Joins as a guest, or rejoins after leaving (the row keeps its role; the host never leaves an active session).
insert into live_session_participants (session_id, user_id, role)
values (@session_id, @user_id, 'guest')
on conflict (session_id, user_id) do update set joined_at = now(), left_at = null;

-- name: LeaveLiveSession :execrows
update live_session_participants
set left_at = now()
where session_id = @session_id and user_id = @user_id and left_at is null;

-- name: SetLiveSessionStep :exec
update live_sessions set current_step = @step where id = @session_id;

-- name: AddLiveSessionMessage :one
-- The message and the session's message count, in one statement.
with added as (
    insert into live_session_messages (session_id, user_id, body)
    values (@session_id, @user_id, @body)
    returning id, created_at
), counted as (
    update live_sessions set message_count = message_count + 1 where id = @session_id
)
select id, created_at from added;

-- name: EndLiveSession :one
-- Ends the session and everyone's participation, in one statement.
with ended as (
    update live_sessions set status = 'ended', ended_at = now()
    where id = @session_id and status = 'active'
    returning id, ended_at
), departed as (
    update live_session_participants p
    set left_at = ended.ended_at
    from ended
    where p.session_id = ended.id and p.left_at is null
)
select ended_at from ended;

-- name: LiveInviteeExists :one
select exists (select from users where id = @user_id) as found;

-- name: InviteToLiveSession :execrows
-- No row when the user is invited already.
insert into live_session_invitations (session_id, user_id, invited_by)
values (@session_id, @user_id, @invited_by)
on conflict (session_id, user_id) do nothing;

-- name: GetLiveSession :one
-- A session as @viewer_id sees it: with its host's public fields, its recipe, and the viewer's place in it
-- (viewer_role: host, guest, or null when never joined; viewer_present: in it now; viewer_invited).
select s.id, s.host_id, h.name as host_name, h.avatar_url as host_avatar_url,
       s.recipe_id, r.title as recipe_title, r.steps as recipe_steps,
       s.title, s.visibility, s.step_count, s.current_step, s.status, s.max_participants, s.created_at, s.ended_at,
       v.role as viewer_role,
       coalesce(v.left_at is null, false)::boolean as viewer_present,
       exists (
           select from live_session_invitations i where i.session_id = s.id and i.user_id = @viewer_id
       ) as viewer_invited
from live_sessions s
join users h on h.id = s.host_id
left join recipes r on r.id = s.recipe_id
left join live_session_participants v on v.session_id = s.id and v.user_id = @viewer_id
where s.id = @session_id;

-- name: ListLiveSessionParticipants :many
-- Who is in the session now, in joining order (at most its max_participants), with their public fields.
select p.user_id, u.name, u.avatar_url, p.role, p.joined_at
from live_session_participants p
join users u on u.id = p.user_id
where p.session_id = @session_id and p.left_at is null
order by p.joined_at, p.user_id;

-- name: RecentLiveSessionMessages :many
-- The newest @max_rows messages, newest first.
select id, user_id, body, created_at
from live_session_messages
where session_id = @session_id
order by id desc
limit @max_rows;

-- name: LiveSessionMessagesAfter :many
-- Messages after @after_id (a message id; 0 for the first), oldest first.
select id, user_id, body, created_at
from live_session_messages
where session_id = @session_id and id > @after_id
order by id
limit @max_rows;

-- name: ListMyLiveSessions :many
-- Active sessions @user_id is in (role host or guest) or invited to and not in (role invited), newest first.
select s.id, s.host_id, h.name as host_name, s.title, s.visibility, s.recipe_id, s.step_count, s.current_step,
       s.max_participants, s.created_at,
       (select count(*) from live_session_participants c
        where c.session_id = s.id and c.left_at is null)::bigint as participant_count,
       coalesce(p.role, 'invited')::text as role
from live_sessions s
join users h on h.id = s.host_id
left join live_session_participants p on p.session_id = s.id and p.user_id = @user_id and p.left_at is null
where s.status = 'active'
  and s.id in (
      select m.session_id from live_session_participants m where m.user_id = @user_id and m.left_at is null
      union
      select i.session_id from live_session_invitations i where i.user_id = @user_id
  )
order by s.created_at desc, s.id
limit @max_rows;

-- name: ListPublicLiveSessions :many
-- Active public sessions, newest first (live_sessions_public_idx).
select s.id, s.host_id, h.name as host_name, s.title, s.visibility, s.recipe_id, s.step_count, s.current_step,
       s.max_participants, s.created_at,
       (select count(*) from live_session_participants c
        where c.session_id = s.id and c.left_at is null)::bigint as participant_count
from live_sessions s
join users h on h.id = s.host_id
where s.status = 'active' and s.visibility = 'public'
order by s.created_at desc, s.id
limit @max_rows offset @skip;

-- name: ActiveLiveSessionsOf :many
-- Before an account is deleted: the active sessions it is in, whether it hosts each, and who else is in them.
select s.id, s.host_id = @user_id as hosting,
       array(
           select o.user_id from live_session_participants o
           where o.session_id = s.id and o.left_at is null and o.user_id <> @user_id
       )::uuid[] as others
from live_sessions s
join live_session_participants p on p.session_id = s.id and p.user_id = @user_id and p.left_at is null
where s.status = 'active';

-- name: EndOverdueLiveSessions :many
-- purge-expired: ends the sessions active since before @before, with who was in each (for live.ended).
with ended as (
    update live_sessions set status = 'ended', ended_at = now()
    where status = 'active' and created_at < @before
    returning id
), departed as (
    update live_session_participants p
    set left_at = now()
    from ended
    where p.session_id = ended.id and p.left_at is null
    returning p.session_id, p.user_id
)
select ended.id,
       coalesce(array_agg(departed.user_id) filter (where departed.user_id is not null), '{}')::uuid[] as participant_ids
from ended
left join departed on departed.session_id = ended.id
group by ended.id;

-- name: PurgeEndedLiveSessions :execrows
-- purge-expired: deletes sessions ended before @before, with their participants, invitations and messages.
delete from live_sessions where status = 'ended' and ended_at < @before;

-- name: ExportHostedLiveSessions :many
select id, recipe_id, title, visibility, step_count, current_step, status, max_participants, created_at, ended_at
from live_sessions
where host_id = @user_id
order by created_at, id;

-- name: ExportLiveSessionParticipations :many
select session_id, role, joined_at, left_at
from live_session_participants
where user_id = @user_id
order by joined_at, session_id;

-- name: ExportLiveSessionInvitations :many
-- Invitations the account received (who invited it: the session's host).
select session_id, invited_by, created_at
from live_session_invitations
where user_id = @user_id
order by created_at, session_id;

-- name: ExportLiveSessionMessages :many
select id, session_id, body, created_at
from live_session_messages
where user_id = @user_id
order by id;
