-- rspamd.local.lua for t_rspamd: test triggers rspamd has no GTUBE
-- variant for (a soft reject) and a milter block (add/remove headers).
-- Loaded by rspamd from $LOCAL_CONFDIR (tests/functional/scan_lib.sh).

-- Subject containing RMTEST-SOFT: soft reject, with a message
rspamd_config:register_symbol({
  name = 'RMTEST_SOFT',
  type = 'prefilter',
  priority = 10,
  callback = function(task)
    local subj = task:get_subject() or ''
    if subj:find('RMTEST-SOFT', 1, true) then
      task:set_pre_result('soft reject', 'Soft reject test, try later', 'rmtest')
    end
  end,
})

-- Subject containing RMTEST-MILTER: ask the milter to add one header and
-- to remove every X-Remove-Me header
rspamd_config:register_symbol({
  name = 'RMTEST_MILTER',
  type = 'postfilter',
  priority = 10,
  callback = function(task)
    local subj = task:get_subject() or ''
    if subj:find('RMTEST-MILTER', 1, true) then
      task:set_milter_reply({
        add_headers = { ['X-Rmtest-Added'] = 'added by rspamd' },
        remove_headers = { ['X-Remove-Me'] = 0 },
      })
    end
  end,
})
