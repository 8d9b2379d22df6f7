-- Version 8: room in the queue's pages for each row's claim. A drain step's claim updates
-- the rows it takes (`claimed_by`, `claimed_at`, neither indexed); on a full page the new
-- row version went to another page, with new entries in both of the queue's indexes. With
-- half of each page kept free at insert, the claim's version fits beside the row it
-- replaces (a heap-only update): no index entries, one WAL record instead of three. Pages
-- written from now on keep the room.
ALTER TABLE queue SET (fillfactor = 50);
