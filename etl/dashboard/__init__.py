"""The dashboard (issue 25): a Streamlit app over the gold tables MySQL serves.

``connect`` signs in (the read-only consumer account), ``queries`` holds every SQL statement,
``shaping`` turns query results into what a page shows (pure pandas, unit tested), ``app`` draws the
pages. See docs/dashboard.md.
"""
