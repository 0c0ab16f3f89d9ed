WEBHOOK = 'https://hooks.slack.com/services/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'
BOT = "xoxb-52788873340-682246346935-XpLsBnPwBcuzDfeWcM6aPXtm"
