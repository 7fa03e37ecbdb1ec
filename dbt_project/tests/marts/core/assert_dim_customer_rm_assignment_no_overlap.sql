-- A customer's relationship-manager assignments never overlap: periods are half-open
-- [valid_from, valid_to), a null valid_to is open-ended. Fails with one row per pair of
-- assignments of the same customer that share a day (so also two current assignments).

with

assignments as (

    select * from {{ ref('dim_customer_rm_assignment') }}

)

select
    earlier.customer_id,
    earlier.assignment_id as earlier_assignment_id,
    later.assignment_id as later_assignment_id,
    earlier.valid_from as earlier_valid_from,
    earlier.valid_to as earlier_valid_to,
    later.valid_from as later_valid_from
from assignments as earlier
inner join assignments as later
    on
        earlier.customer_id = later.customer_id
        and earlier.assignment_id != later.assignment_id
        and (earlier.valid_from, earlier.assignment_id) <= (later.valid_from, later.assignment_id)
where
    earlier.valid_to is null
    or earlier.valid_to > later.valid_from
