from memdive.cli import console_main

console_main()
