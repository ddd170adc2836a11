-- name: InsertScan :one
insert into scans (user_id, detected_ingredients, confidence_score, model, image, image_content_type, image_expires_at)
values (@user_id, @detected_ingredients, @confidence_score, @model, sqlc.narg(image), sqlc.narg(image_content_type),
        sqlc.narg(image_expires_at))
returning id, created_at;

-- name: GetScan :one
-- Only the caller's own scan: another user's id reads as not found.
select id, user_id, detected_ingredients, confidence_score, (image is not null)::boolean as has_image, created_at
from scans
where id = @id and user_id = @user_id;

-- name: ListScans :many
select id, user_id, detected_ingredients, confidence_score, (image is not null)::boolean as has_image, created_at
from scans
where user_id = @user_id
order by created_at desc, id
limit @max_rows offset @skip;

-- name: CorrectScan :one
update scans set detected_ingredients = @detected_ingredients, confidence_score = @confidence_score,
    corrected_at = now()
where id = @id and user_id = @user_id
returning id, user_id, detected_ingredients, confidence_score, (image is not null)::boolean as has_image, created_at;

-- name: GetScanImage :one
select image, image_content_type from scans
where id = @id and user_id = @user_id and image is not null and image_expires_at > now();

-- name: PurgeExpiredScanImages :execrows
update scans set image = null, image_content_type = null, image_expires_at = null
where image is not null and image_expires_at <= @before;

-- name: ExportScans :many
select id, detected_ingredients, confidence_score, model, corrected_at, created_at
from scans
where user_id = @user_id
order by created_at desc
limit 10000;
