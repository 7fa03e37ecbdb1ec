{#-
    Fails for every closed month where the RM books of
    mart_rm_performance_monthly do not add up: the book sizes over all lines
    (the 'UNASSIGNED' one included) must equal the customers whose
    relationship is open (int_finance__customer_months), and the assigned
    lines must equal the customers with an RM assignment at the month's end
    (dim_customer_rm_assignment).
-#}
with

performance as (

    select * from {{ ref('mart_rm_performance_monthly') }}

),

customer_months as (

    select * from {{ ref('int_finance__customer_months') }}

),

assignments as (

    select * from {{ ref('dim_customer_rm_assignment') }}

),

books as (

    select
        performance.month_start,
        sum(performance.book_customers) as book_customers,
        sum(performance.book_customers) filter (where performance.is_assigned)
            as assigned_customers
    from performance
    group by performance.month_start

),

expected as (

    select
        customer_months.month_start,
        count(*) as customers,
        count(assignments.customer_id) as assigned_customers
    from customer_months
    left join assignments
        on
            customer_months.customer_id = assignments.customer_id
            and customer_months.month_end >= assignments.valid_from
            and (
                assignments.valid_to is null
                or customer_months.month_end < assignments.valid_to
            )
    group by customer_months.month_start

)

select
    coalesce(books.month_start, expected.month_start) as month_start,
    books.book_customers,
    expected.customers,
    books.assigned_customers,
    expected.assigned_customers as expected_assigned_customers
from books
full outer join expected
    on books.month_start = expected.month_start
where
    books.book_customers is distinct from expected.customers
    or coalesce(books.assigned_customers, 0) != coalesce(expected.assigned_customers, 0)
