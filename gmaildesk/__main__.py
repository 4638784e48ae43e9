from gmaildesk.cli import main

main()
