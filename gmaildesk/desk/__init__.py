"""Desk-as-code engine: desk.yaml's Desk -> what the mailbox has -> a Plan -> apply.

    current = read.current(client)
    record = Ownership.load(state_path(Account(client.endpoint, address)), address)  # session.prepare
    the_plan = plan.build(desk, current, record, allow_delete=False)
    print(the_plan.render_text())
    result = apply.execute(the_plan, client, record)

One module per Gmail kind (labels, filters, vacation, sendas), each with the desired
model, the current model and ``diff``; ``plan`` combines them into a value and
``apply`` only executes that value; ``export`` goes the other way (mailbox -> desk.yaml).
The ownership record remembers what gmaildesk made and the form Gmail stored it in, so that
Gmail's own normalisation is never shown as a change.
Nothing here imports typer or googleapiclient.
"""
