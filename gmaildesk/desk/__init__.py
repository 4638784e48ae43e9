"""Desk-as-code engine: desk.yaml's Desk -> what the mailbox has -> a Plan -> apply.

    api = HttpGmailApi(connect(options, scopes.DESK))   # a gmail.api.DeskApi
    current = read.current(api)
    record = Ownership.load(state_path(Account(api.endpoint, address)), address)  # session.prepare
    the_plan = plan.build(desk, current, record, allow_delete=False)
    print(the_plan.render_text())
    result = apply.execute(the_plan, api, record)

One module per Gmail kind (labels, filters, vacation, sendas), each with the desired
model, the current model and ``diff``; ``plan`` combines them into a value and
``apply`` only executes that value; ``export`` goes the other way (mailbox -> desk.yaml).
The ownership record remembers what gmaildesk made and the form Gmail stored it in, so that
Gmail's own normalisation is never shown as a change.
Gmail is reached only through gmail/api.py's DeskApi; nothing here imports typer or googleapiclient.
"""
