-- A recipe's picture, for the app's Recipe.image_url: an https URL of at most 2048 characters naming a host, or
-- null (no picture). Catalog recipes take it from the catalog's file (app/recipes/catalog.py checks the same shape
-- first); generated recipes have none: the model is not asked to invent links, and no request of a client sets it.
-- Additive: the previous release never selects it.
alter table recipes add column image_url text
    check (length(image_url) <= 2048 and image_url ~ '^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/\S*)?$');
